// Storage account (shared-key access off): the Parquet lake, raw dumps, results, audit, the
// Flex Consumption deployment package and the Durable Functions task hub.
param location string
param tags object
param name string
@description('Blob containers the app reads and writes (lake, raw, results, audit).')
param dataContainers array
@description('Durable Functions task hub name (host.json extensions.durableTask.hubName).')
param taskHubName string
param deploymentContainerName string
@description('Log Analytics workspace receiving blob, queue and table request logs.')
param logAnalyticsId string
@allowed([ 'Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_RAGRS', 'Standard_GZRS' ])
param skuName string = 'Standard_ZRS'
@description('Public network access; Flex Consumption without VNet integration needs Enabled.')
@allowed([ 'Enabled', 'Disabled' ])
param publicNetworkAccess string = 'Enabled'
@minValue(1)
@maxValue(365)
param deleteRetentionDays int = 7

var taskHubContainers = [
  '${toLower(taskHubName)}-leases'
  '${toLower(taskHubName)}-largemessages'
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: skuName }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: { enabled: true, keyType: 'Account' }
        file: { enabled: true, keyType: 'Account' }
        queue: { enabled: true, keyType: 'Account' }
        table: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
    containerDeleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in concat(dataContainers, taskHubContainers, [ deploymentContainerName ]): {
  parent: blobService
  name: container
  properties: { publicAccess: 'None' }
}]

var serviceLogs = {
  workspaceId: logAnalyticsId
  logs: [
    { categoryGroup: 'allLogs', enabled: true }
  ]
  metrics: [
    { category: 'Transaction', enabled: true }
  ]
}

resource blobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
  properties: serviceLogs
}

resource queueLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: queueService
  properties: serviceLogs
}

resource tableLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: tableService
  properties: serviceLogs
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
