-- Argo CD health of a TrenchRestore (playtrenches.xyz/v1alpha1): one backup loaded in place
-- into one Trench. A failed restore leaves the database as it was, but the Trench did not get
-- the data asked for: Degraded.
-- Source of the resource.customizations.health.playtrenches.xyz_TrenchRestore key of
-- manifests/argocd/argocd-cm-health.yaml, after lib.lua and run.lua (make synth writes it;
-- edit these files, not that one).

-- The steps of an in-place restore (DESIGN.md); the API server still stores only RUN_PHASES,
-- so these are listed for when the restore controller reports them.
local steps = { Verifying = true, Quiescing = true, Restoring = true, Resuming = true }

local backup = nonEmpty(get(get(obj.spec, "backupRef"), "name"))
local from = ""
if backup ~= nil then
  from = " from " .. backup
end

local function completed(_, message)
  if message ~= nil then
    return ": " .. message
  end
  return ""
end

return runHealth("restore", "Restore" .. from, from, steps, completed)
