-- Argo CD health of a TrenchBackup (playtrenches.xyz/v1alpha1): one pg_dump of one Trench.
-- gopher-lua (Lua 5.1) with only the base, table and os libraries, as Argo CD runs custom
-- health scripts: no string library, and every field may be missing.
-- Source of the resource.customizations.health.playtrenches.xyz_TrenchBackup key of
-- manifests/argocd/argocd-cm-health.yaml (make synth writes it; edit this file, not that one).

local function get(t, key)
  if type(t) ~= "table" then
    return nil
  end
  return t[key]
end

local function nonEmpty(v)
  if v == nil or v == "" then
    return nil
  end
  return tostring(v)
end

-- Argo CD hands int64 fields over as numbers, but its decoder turns a json.Number into a
-- string: accept both, so a generation never reads as missing.
local function number(v)
  if type(v) == "string" then
    return tonumber(v)
  end
  if type(v) == "number" then
    return v
  end
  return nil
end

local hs = {}
local generation = number(get(obj.metadata, "generation"))
local status = obj.status
local phase = get(status, "phase")
local observed = number(get(status, "observedGeneration"))
local message = nonEmpty(get(status, "message"))

-- The spec is immutable, so a stale status only happens when a backup is recreated under the
-- same name; observedGeneration is optional here because a run's status may never set it.
if type(status) ~= "table" or phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the backup"
  return hs
end
if type(observed) == "number" and type(generation) == "number" and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if phase == "Pending" or phase == "Running" then
  hs.status = "Progressing"
  hs.message = "Backup " .. tostring(phase)
  if message ~= nil then
    hs.message = hs.message .. ": " .. message
  end
  return hs
end

-- RUN_PHASES (charts/api/backup.ts) ends in Succeeded; the design calls the same state
-- Completed. Both are accepted so that either spelling shows a finished backup as Healthy.
if phase == "Succeeded" or phase == "Completed" then
  hs.status = "Healthy"
  hs.message = "Backup completed"
  local location = nonEmpty(get(status, "location"))
  if location ~= nil then
    hs.message = hs.message .. ": " .. location
  end
  local size = get(status, "sizeBytes")
  if size ~= nil then
    hs.message = hs.message .. " (" .. tostring(size) .. " bytes)"
  end
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "Backup failed: " .. (message or "no message in status")
  return hs
end

-- A phase this script does not know (a newer operator) must not break the Application's health.
hs.status = "Progressing"
hs.message = "Unknown backup phase " .. tostring(phase)
if message ~= nil then
  hs.message = hs.message .. ": " .. message
end
return hs
