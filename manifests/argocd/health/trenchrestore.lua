-- Argo CD health of a TrenchRestore (playtrenches.xyz/v1alpha1): one backup loaded in place
-- into one Trench. gopher-lua (Lua 5.1) with only the base, table and os libraries, as Argo CD
-- runs custom health scripts: no string library, and every field may be missing.
-- Source of the resource.customizations.health.playtrenches.xyz_TrenchRestore key of
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

-- The steps of an in-place restore (DESIGN.md); the API server still stores only RUN_PHASES,
-- so these are listed for when the restore controller reports them.
local steps = { Verifying = true, Quiescing = true, Restoring = true, Resuming = true }

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
local backup = nonEmpty(get(get(obj.spec, "backupRef"), "name"))
local from = ""
if backup ~= nil then
  from = " from " .. backup
end

if type(status) ~= "table" or phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the restore" .. from
  return hs
end
if type(observed) == "number" and type(generation) == "number" and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if phase == "Pending" or phase == "Running" or steps[phase] then
  hs.status = "Progressing"
  hs.message = "Restore" .. from .. " " .. tostring(phase)
  if message ~= nil then
    hs.message = hs.message .. ": " .. message
  end
  return hs
end

-- RUN_PHASES (charts/api/backup.ts) ends in Succeeded; the design calls the same state
-- Completed. Both are accepted so that either spelling shows a finished restore as Healthy.
if phase == "Succeeded" or phase == "Completed" then
  hs.status = "Healthy"
  hs.message = "Restore" .. from .. " completed"
  if message ~= nil then
    hs.message = hs.message .. ": " .. message
  end
  return hs
end

-- A failed restore leaves the database as it was, but the Trench did not get the data asked for.
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "Restore" .. from .. " failed: " .. (message or "no message in status")
  return hs
end

hs.status = "Progressing"
hs.message = "Unknown restore phase " .. tostring(phase)
if message ~= nil then
  hs.message = hs.message .. ": " .. message
end
return hs
