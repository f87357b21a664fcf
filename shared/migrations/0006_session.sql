-- Login sessions (Creatio's AuthService.svc/Login): the token's SHA-256,
-- its user, its CSRF value (the BPMCSRF header), and when it ends.
CREATE TABLE api_session (
    token_hash text PRIMARY KEY,
    user_name  text NOT NULL,
    csrf       text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX api_session_expires ON api_session (expires_at);
