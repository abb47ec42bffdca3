-- Training runs: which engine process owns a queued/running run (a run whose owner is gone was
-- left by a crash and is marked interrupted at the next start), the trainer child's pid, and the
-- figures known before training starts (trainable params, steps, memory estimate).

ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
ALTER TABLE runs ADD COLUMN trainer_pid INTEGER;
ALTER TABLE runs ADD COLUMN estimate_json TEXT;

CREATE INDEX metrics_run_step ON metrics(run_id, step);
