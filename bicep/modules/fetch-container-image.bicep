// The containers of the relay app as they run now, so a re-provision keeps the image azd
// deployed instead of resetting it to the placeholder. azd's own scaffold does the same
// (Azure/azure-dev cli/azd/resources/scaffold/base/modules/fetch-container-image.bicep);
// azd sets SERVICE_<NAME>_RESOURCE_EXISTS once the service has been deployed.
@description('True when the container app already exists (SERVICE_RELAY_RESOURCE_EXISTS).')
param exists bool
@description('Name of the container app.')
param name string

resource existingApp 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

output containers array = exists ? existingApp.properties.template.containers : []
