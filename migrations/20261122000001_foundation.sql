-- Foundation: extensions used across modules.
-- citext gives case-insensitive text (emails); it is a trusted extension since PostgreSQL 13.
CREATE EXTENSION IF NOT EXISTS citext;
