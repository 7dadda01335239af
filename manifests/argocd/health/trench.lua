-- Argo CD health of a Trench (playtrenches.xyz/v1alpha1). A Trench the operator has not seen
-- yet has no status at all.
-- Source of the resource.customizations.health.playtrenches.xyz_Trench key of
-- manifests/argocd/argocd-cm-health.yaml, after lib.lua (make synth writes it; edit these
-- files, not that one).

local function condition(status, wanted)
  local list = get(status, "conditions")
  if type(list) ~= "table" then
    return nil
  end
  for _, c in ipairs(list) do
    if get(c, "type") == wanted then
      return c
    end
  end
  return nil
end

-- "Phase (Reason): message", leaving out whatever the condition lacks.
local function describe(phase, c)
  local text = tostring(phase)
  local reason = get(c, "reason")
  local message = get(c, "message")
  if reason ~= nil and reason ~= "" then
    text = text .. " (" .. tostring(reason) .. ")"
  end
  if message ~= nil and message ~= "" then
    text = text .. ": " .. tostring(message)
  end
  return text
end

local hs = {}
local generation = number(get(obj.metadata, "generation"))
local status = obj.status
local observed = number(get(status, "observedGeneration"))

-- Until the operator has written a status for the current spec, any phase in it describes an
-- older spec: a Trench just edited would otherwise stay Healthy until the next reconcile.
if type(status) ~= "table" or type(observed) ~= "number"
    or (type(generation) == "number" and observed < generation) then
  hs.status = "Progressing"
  if type(generation) == "number" then
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for the operator to observe the Trench"
  end
  if type(observed) == "number" then
    hs.message = hs.message .. " (status is of generation " .. tostring(observed) .. ")"
  end
  return hs
end

local phase = status.phase
local ready = condition(status, "Ready")
local rollout = get(status, "rollout")

-- Failed is a spec the operator cannot render (InvalidSpec): nothing retries it until the spec
-- changes. Argo CD has no status for "broken until edited", so it is Degraded like the rest.
if phase == "Failed" or phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = describe(phase, ready)
  return hs
end

-- An aborted canary: stable serves everything, but the release the spec asks for is not
-- running and will not until the spec changes or `kubectl trench retry`. Argo CD shows an
-- aborted Argo Rollout as Degraded; so is this.
local rolloutPhase = get(rollout, "phase")
if rolloutPhase == "Aborted" then
  hs.status = "Degraded"
  hs.message = describe("Rollout aborted", rollout)
  return hs
end

-- A canary waiting for `kubectl trench promote` (or held by an inconclusive analysis, or by
-- `kubectl trench pause`) is healthy traffic-wise but will not finish on its own; Suspended is
-- how Argo CD shows a paused Argo Rollout, so Trenches look the same.
-- spec.backup.suspend is not checked: it stops backups, not the Trench.
if rolloutPhase == "Paused" then
  hs.status = "Suspended"
  local where = "Rollout paused"
  local step = get(rollout, "step")
  local weight = get(rollout, "achievedWeight")
  if step ~= nil then
    where = where .. " at step " .. tostring(step)
  end
  if weight ~= nil then
    where = where .. " (canary " .. tostring(weight) .. "% of API pods)"
  end
  hs.message = describe(where, { message = get(rollout, "message") })
  return hs
end

if phase == "Ready" then
  if get(ready, "status") == "True" then
    hs.status = "Healthy"
    hs.message = describe(phase, ready)
    -- Warnings (a backup that failed, say) set Degraded=True but leave the Trench Ready.
    local degraded = condition(status, "Degraded")
    if get(degraded, "status") == "True" then
      hs.message = hs.message .. "; warning: " .. describe("Degraded", degraded)
    end
  else
    hs.status = "Progressing"
    hs.message = "Phase is Ready but the Ready condition is "
      .. tostring(get(ready, "status") or "missing")
  end
  return hs
end

if phase == "Pending" or phase == "Progressing" then
  hs.status = "Progressing"
  hs.message = describe(phase, ready)
  return hs
end

-- A phase this script does not know (a newer operator) must not break the Application's health.
hs.status = "Progressing"
if phase == nil then
  hs.message = "Waiting for the operator to set a phase"
else
  hs.message = describe("Unknown phase " .. tostring(phase), ready)
end
return hs
