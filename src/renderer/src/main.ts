import { createApp } from 'vue';
import { createPinia } from 'pinia';
import '@fontsource-variable/inter/wght.css';
import './styles/tokens.css';
import './styles/base.css';
import App from './App.vue';
import { router } from './router';
import { applyCachedTheme } from './theme';

applyCachedTheme();
createApp(App).use(createPinia()).use(router).mount('#app');
