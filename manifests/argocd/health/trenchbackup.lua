-- Argo CD health of a TrenchBackup (playtrenches.xyz/v1alpha1): one pg_dump of one Trench.
-- Source of the resource.customizations.health.playtrenches.xyz_TrenchBackup key of
-- manifests/argocd/argocd-cm-health.yaml, after lib.lua and run.lua (make synth writes it;
-- edit these files, not that one).

local function completed(status)
  local text = ""
  local path = nonEmpty(get(status, "path"))
  if path ~= nil then
    text = ": " .. path
  end
  local size = get(status, "sizeBytes")
  if size ~= nil then
    text = text .. " (" .. tostring(size) .. " bytes)"
  end
  return text
end

return runHealth("backup", "Backup", "", {}, completed)
