-- Every CloudTrail event with the columns a finding's evidence takes under the names findings
-- give them: `function_name` (the session name, which Lambda sets to the function's name for
-- its execution role) and `access_key_id`, beside every column of the event. A detector
-- selects `e.*` from it (or from a view over it) with its own `subject` and `reason`; the
-- runner reads only the evidence columns, so the rest is never read from the files.
SELECT
    c.*,
    c.session_name AS function_name,
    c.user_identity_access_key_id AS access_key_id
FROM cloudtrail c
