-- The permissions a token grants its worker (scopes), space-separated; empty: none.
ALTER TABLE p_worker_token__tokens ADD COLUMN permissions TEXT NOT NULL DEFAULT '';
