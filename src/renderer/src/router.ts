/**
 * Pages and their addresses. Hash history (`#/runs`): the same URLs work from file:// in the desktop
 * window and from the web server, and changing page never asks the server for anything.
 */
import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router';
import type { Component } from 'vue';
import { Activity, Boxes, Database, Layers, MessageSquareText, Settings } from 'lucide-vue-next';
import ModelsPage from './pages/ModelsPage.vue';
import DatasetsPage from './pages/DatasetsPage.vue';
import RunsPage from './pages/RunsPage.vue';
import AdaptersPage from './pages/AdaptersPage.vue';
import PlaygroundPage from './pages/PlaygroundPage.vue';
import SettingsPage from './pages/SettingsPage.vue';
import NewRunPage from './pages/NewRunPage.vue';
import RunPage from './pages/RunPage.vue';

export interface NavPage {
  path: string;
  name: string;
  title: string;
  icon: Component;
  component: Component;
}

export const navPages: NavPage[] = [
  { path: '/models', name: 'models', title: 'Models', icon: Boxes, component: ModelsPage },
  { path: '/datasets', name: 'datasets', title: 'Datasets', icon: Database, component: DatasetsPage },
  { path: '/runs', name: 'runs', title: 'Runs', icon: Activity, component: RunsPage },
  { path: '/adapters', name: 'adapters', title: 'Adapters', icon: Layers, component: AdaptersPage },
  { path: '/playground', name: 'playground', title: 'Playground', icon: MessageSquareText, component: PlaygroundPage },
  { path: '/settings', name: 'settings', title: 'Settings', icon: Settings, component: SettingsPage },
];

const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/models' },
  ...navPages.map((p) => ({ path: p.path, name: p.name, component: p.component, meta: { title: p.title } })),
  { path: '/runs/new', name: 'new-run', component: NewRunPage, meta: { title: 'New run' } },
  { path: '/runs/:id(\\d+)', name: 'run', component: RunPage, meta: { title: 'Run' } },
  { path: '/:unknown(.*)*', redirect: '/models' },
];

export const router = createRouter({ history: createWebHashHistory(), routes });

router.afterEach((to) => {
  const title = typeof to.meta.title === 'string' ? to.meta.title : null;
  document.title = title ? `${title} · LoRA Studio` : 'LoRA Studio';
});
