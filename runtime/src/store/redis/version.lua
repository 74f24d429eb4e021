-- A subject's version (the number of events it has ever had). Follows batch.lua.
--
-- KEYS: 1 the subject's index stream
-- Reply: the version
return tonumber(subject_version(KEYS[1]))
