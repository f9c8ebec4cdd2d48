// The Function App on Flex Consumption (Linux, Python 3.11), running as the user-assigned
// identity: host storage, deployment package and Key Vault references all go through it.
param location string
param tags object
param planName string
param appName string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
param applicationInsightsConnectionString string
@description('Cosmos DB account endpoint: the change-feed trigger (connection COSMOS) signs in with the identity.')
param cosmosEndpoint string
@description('App settings the application code reads (name/value pairs), built in main.bicep.')
param appSettings array
@allowed([ 512, 2048, 4096 ])
param instanceMemoryMB int = 2048
@description('Flex Consumption accepts 40 to 1000 (tests/deploy/reference/azure_platform.yaml).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100
@description('Origins allowed to call the API from a browser.')
param allowedOrigins array = []
@description('Always-ready instances of the `durable` per-function scale group (orchestrators, activities, entities); Microsoft recommends 1 for Durable Functions on Flex Consumption. 0: scale from zero.')
@minValue(0)
param durableAlwaysReadyInstances int = 1
@description('Durable task hub maxQueuePollingInterval (hh:mm:ss); Microsoft recommends 10 seconds or less on Flex Consumption.')
param durableMaxQueuePollingInterval string = '00:00:01'
@description('Durable Functions backend. host.json selects the Durable Task Scheduler; AzureStorage overrides it here.')
@allowed([ 'DurableTaskScheduler', 'AzureStorage' ])
param durableBackend string = 'DurableTaskScheduler'
@description('The scheduler endpoint (Microsoft.DurableTask/schedulers properties.endpoint) when durableBackend is DurableTaskScheduler.')
param durableTaskSchedulerEndpoint string = ''

// Settings the Functions host reads itself (not the application code).
var hostSettings = [
  { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  // The cosmosDBTrigger connection "COSMOS" (functions/paper_matching.py), identity-based:
  // https://learn.microsoft.com/azure/azure-functions/functions-bindings-cosmosdb-v2-trigger#identity-based-connections
  { name: 'COSMOS__accountEndpoint', value: cosmosEndpoint }
  { name: 'COSMOS__credential', value: 'managedidentity' }
  { name: 'COSMOS__clientId', value: identityClientId }
]
// host.json's durableTask.storageProvider (type azureManaged, connectionStringName
// DURABLE_TASK_SCHEDULER_CONNECTION_STRING) is read as is with the Durable Task Scheduler: the
// app setting it names carries the scheduler endpoint and the identity to sign in with
// (Microsoft's format: Endpoint=...;Authentication=ManagedIdentity;ClientID=<client id>).
var durableTaskSchedulerSettings = [
  { name: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING', value: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}' }
]
// The Azure Storage provider instead: host.json values overridden through AzureFunctionsJobHost__
// app settings, the type, the connection (AzureWebJobsStorage, the identity-based host storage;
// the provider reads connectionStringName as its connection name) and the queue polling
// interval at the Flex Consumption recommendation.
var azureStorageProviderSettings = [
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__type', value: 'AzureStorage' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName', value: 'AzureWebJobsStorage' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval', value: durableMaxQueuePollingInterval }
]
var durableSettings = (durableBackend == 'DurableTaskScheduler') ? durableTaskSchedulerSettings : azureStorageProviderSettings
// Per-function scale groups with instances kept warm (Flex Consumption `alwaysReady`).
var alwaysReady = (durableAlwaysReadyInstances > 0) ? [ { name: 'durable', instanceCount: durableAlwaysReadyInstances } ] : []

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        alwaysReady: alwaysReady
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    // No ftpsState (nor any other property in tests/deploy/reference/azure_platform.yaml's
    // flex_consumption.unsupported_site_properties): Flex Consumption rejects it (ARM 51021).
    // FTP is off through the `ftp` basicPublishingCredentialsPolicy below.
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      remoteDebuggingEnabled: false
      cors: {
        allowedOrigins: allowedOrigins
      }
      appSettings: concat(hostSettings, durableSettings, appSettings)
    }
  }
}

resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: app
  name: 'ftp'
  properties: { allow: false }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: app
  name: 'scm'
  properties: { allow: false }
}

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName
output apiUrl string = 'https://${app.properties.defaultHostName}/api'
