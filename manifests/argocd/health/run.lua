-- The health of one run (a TrenchBackup or a TrenchRestore): what Argo CD shows for its phase.
-- `noun` is "backup" or "restore", `title` how messages start ("Backup", "Restore from x"),
-- `steps` further phases that mean running, `completed(status, message)` the detail of a
-- finished run.
local function runHealth(noun, title, suffix, steps, completed)
  local hs = {}
  local generation = number(get(obj.metadata, "generation"))
  local status = obj.status
  local phase = get(status, "phase")
  local observed = number(get(status, "observedGeneration"))
  local message = nonEmpty(get(status, "message"))

  if type(status) ~= "table" or phase == nil then
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to start the " .. noun .. suffix
    return hs
  end
  -- The spec is immutable, so a stale status only happens when a run is recreated under the
  -- same name; observedGeneration is optional because a run's status may never set it.
  if type(observed) == "number" and type(generation) == "number" and observed < generation then
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    return hs
  end
  if phase == "Pending" or phase == "Running" or steps[phase] then
    hs.status = "Progressing"
    hs.message = withMessage(title .. " " .. tostring(phase), message)
    return hs
  end
  -- Completed ends BACKUP_PHASES and RESTORE_PHASES (charts/api/backup.ts); Succeeded was
  -- their name before any controller wrote them, and still reads as finished.
  if phase == "Succeeded" or phase == "Completed" then
    hs.status = "Healthy"
    hs.message = title .. " completed" .. completed(status, message)
    return hs
  end
  if phase == "Failed" then
    hs.status = "Degraded"
    hs.message = title .. " failed: " .. (message or "no message in status")
    return hs
  end
  -- A phase this script does not know (a newer operator) must not break the Application's health.
  hs.status = "Progressing"
  hs.message = withMessage("Unknown " .. noun .. " phase " .. tostring(phase), message)
  return hs
end
