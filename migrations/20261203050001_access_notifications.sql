-- Every change that ends an access token's validity announces itself, whatever statement
-- makes it: instances keep the state of sessions and users in memory and drop an entry when
-- its notice arrives. NOTIFY is delivered on commit, so a rolled-back change announces
-- nothing.

-- A session revoked, moved, shortened or deleted: the payload is the session id.
CREATE FUNCTION nocron_notify_session_access() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('nocron_access_sessions', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_access_changed
    AFTER UPDATE OF revoked_at, user_id, absolute_expires_at ON sessions
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.absolute_expires_at IS DISTINCT FROM NEW.absolute_expires_at)
    EXECUTE FUNCTION nocron_notify_session_access();

CREATE TRIGGER sessions_access_deleted
    AFTER DELETE ON sessions
    FOR EACH ROW
    EXECUTE FUNCTION nocron_notify_session_access();

-- A user's role, status or token version changed, or the user is gone: the payload is the
-- user id.
CREATE FUNCTION nocron_notify_user_access() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('nocron_access_users', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_access_changed
    AFTER UPDATE OF role, status, token_version, deleted_at ON users
    FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role
          OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.token_version IS DISTINCT FROM NEW.token_version
          OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION nocron_notify_user_access();

CREATE TRIGGER users_access_deleted
    AFTER DELETE ON users
    FOR EACH ROW
    EXECUTE FUNCTION nocron_notify_user_access();
