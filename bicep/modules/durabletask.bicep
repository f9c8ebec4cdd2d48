// Durable Task Scheduler: the managed Durable Functions backend (a scheduler and the one task
// hub host.json names). The app reaches it with its managed identity only (roles.bicep grants
// Durable Task Data Contributor on the task hub); the scheduler takes no keys.
// Resource shapes: Microsoft.DurableTask@2025-11-01 in Azure/bicep-types-az (checked by
// tests/deploy/test_references.py against tests/deploy/reference/arm_types.json).
param location string
param tags object
@description('Scheduler name (3-64 letters, digits, hyphens).')
param name string
@description('Task hub name: host.json extensions.durableTask.hubName.')
param taskHubName string
@description('Consumption: billed per action, up to 500 actions/s. Dedicated: capacity units of 2,000 actions/s each.')
@allowed([ 'Consumption', 'Dedicated' ])
param skuName string = 'Consumption'
@description('Dedicated capacity units (1-3; 3 gives zone redundancy). Not sent for Consumption.')
@minValue(1)
@maxValue(3)
param capacity int = 1
@description('Networks allowed to reach the scheduler; an empty list denies every caller. Flex Consumption has no fixed outbound address, so the default admits all and leaves access to Entra ID (identity and role).')
param ipAllowlist array = [ '0.0.0.0/0' ]

var sku = (skuName == 'Dedicated') ? { name: skuName, capacity: capacity } : { name: skuName }

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: sku
    ipAllowlist: ipAllowlist
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
  properties: {}
}

output name string = scheduler.name
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
output dashboardUrl string = taskHub.properties.dashboardUrl
