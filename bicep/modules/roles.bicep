// Role assignments: what the app identity (and, optionally, the deploying user) may do on
// each resource. Data-plane roles only; nothing here grants key or management access.
@description('Principal id of the user-assigned managed identity the apps run as.')
param identityPrincipalId string
@description('Optional principal (the deploying user or CI) given data access for backfills and checks.')
param userPrincipalId string = ''
@allowed([ 'User', 'ServicePrincipal', 'Group' ])
param userPrincipalType string = 'User'
param storageAccountName string
param cosmosAccountName string
param webPubSubName string
param keyVaultName string
param registryName string
param applicationInsightsName string
@description('True when the Durable Task Scheduler is the Durable Functions backend.')
param durableTaskSchedulerEnabled bool = false
param durableTaskSchedulerName string
param durableTaskHubName string

// Azure built-in roles, each with its name as Microsoft's "Azure built-in roles" reference
// spells it (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
// tests/deploy/test_references.py checks every id against tests/deploy/reference/azure_roles.yaml,
// a table copied from that reference, never from this file.
var roles = {
  storageBlobDataOwner: { name: 'Storage Blob Data Owner', id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' }
  storageBlobDataContributor: { name: 'Storage Blob Data Contributor', id: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' }
  storageQueueDataContributor: { name: 'Storage Queue Data Contributor', id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' }
  storageTableDataContributor: { name: 'Storage Table Data Contributor', id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' }
  webPubSubServiceOwner: { name: 'Web PubSub Service Owner', id: '12cf5a90-567b-43ae-8102-96cf46c7d9b4' }
  keyVaultSecretsUser: { name: 'Key Vault Secrets User', id: '4633458b-17de-408a-b874-0445c86b69e6' }
  acrPull: { name: 'AcrPull', id: '7f951dda-4ed3-4680-a7ca-43fe172d538d' }
  monitoringMetricsPublisher: { name: 'Monitoring Metrics Publisher', id: '3913510d-42f4-4e42-8a64-420c390055eb' }
  durableTaskDataContributor: { name: 'Durable Task Data Contributor', id: '0ad04412-c4d5-4796-b79c-f76d14c8d402' }
}
// Cosmos DB for NoSQL data-plane role (a sqlRoleDefinition of the account, not an Azure RBAC
// role): https://learn.microsoft.com/azure/cosmos-db/nosql/security/reference-data-plane-roles
var cosmosDataContributor = { name: 'Cosmos DB Built-in Data Contributor', id: '00000000-0000-0000-0000-000000000002' }

// The host (AzureWebJobsStorage, deployment package) needs Blob Data Owner; Durable Functions
// keeps its task hub in queues and tables.
var storageRoles = [
  roles.storageBlobDataOwner.id
  roles.storageQueueDataContributor.id
  roles.storageTableDataContributor.id
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosAccountName
}

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' existing = {
  name: webPubSubName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource durableTaskScheduler 'Microsoft.DurableTask/schedulers@2025-11-01' existing = {
  name: durableTaskSchedulerName
}

resource durableTaskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' existing = {
  parent: durableTaskScheduler
  name: durableTaskHubName
}

resource appStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: {
  name: guid(storage.id, identityPrincipalId, role)
  scope: storage
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource appCosmos 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, identityPrincipalId, cosmosDataContributor.id)
  properties: {
    principalId: identityPrincipalId
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor.id}'
    scope: cosmos.id
  }
}

resource appWebPubSub 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(webPubSub.id, identityPrincipalId, roles.webPubSubServiceOwner.id)
  scope: webPubSub
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.webPubSubServiceOwner.id)
  }
}

resource appSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, roles.keyVaultSecretsUser.id)
  scope: vault
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser.id)
  }
}

resource appPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identityPrincipalId, roles.acrPull.id)
  scope: registry
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull.id)
  }
}

resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, roles.monitoringMetricsPublisher.id)
  scope: appInsights
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher.id)
  }
}

// Durable Task Scheduler: Microsoft's docs give Durable Functions apps Durable Task Data
// Contributor, on the task hub (the scheduler scope would open every hub in it).
resource appDurableTask 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (durableTaskSchedulerEnabled) {
  name: guid(durableTaskHub.id, identityPrincipalId, roles.durableTaskDataContributor.id)
  scope: durableTaskHub
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor.id)
  }
}

// The deploying user reads the task hub's dashboard with the same role.
resource userDurableTask 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (durableTaskSchedulerEnabled && (!empty(userPrincipalId))) {
  name: guid(durableTaskHub.id, userPrincipalId, roles.durableTaskDataContributor.id)
  scope: durableTaskHub
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor.id)
  }
}

resource userBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(storage.id, userPrincipalId, roles.storageBlobDataContributor.id)
  scope: storage
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor.id)
  }
}

// After appCosmos, never beside it: role assignments on one Cosmos account take an
// account-wide lock, and two created in parallel fail with 412 ("another user operation in
// progress which requires an exclusive lock"); see tests/deploy/reference/azure_platform.yaml.
resource userCosmos 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = if (!empty(userPrincipalId)) {
  parent: cosmos
  dependsOn: [ appCosmos ]
  name: guid(cosmos.id, userPrincipalId, cosmosDataContributor.id)
  properties: {
    principalId: userPrincipalId
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor.id}'
    scope: cosmos.id
  }
}
