-- A system message the system raises keeps what it says as arguments (JSON
-- object of strings) beside its English text, so each reader's screen can
-- say it in their language (`msg-KEY` in the UI's catalogue). NULL: the
-- text is all there is (an administrator's own message).

ALTER TABLE system_event ADD COLUMN args TEXT;
