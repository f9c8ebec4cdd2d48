// Cosmos DB for NoSQL, serverless, Entra ID only: one database, one container per document
// kind the code declares (shared/storage/documents.py CONTAINERS), all partitioned on /pk.
param location string
param tags object
param accountName string
param databaseName string
@description('Public network access; the Flex Consumption app reaches Cosmos over its public endpoint unless VNet-integrated.')
@allowed([ 'Enabled', 'Disabled' ])
param publicNetworkAccess string = 'Enabled'

// Mirrors CONTAINERS in shared/storage/documents.py (tests/deploy checks they agree).
// defaultTtl -1: TTL on, items expire only when they carry their own `ttl`.
var containers = [
  { name: 'quotes', defaultTtl: -1 }
  { name: 'sync_state', defaultTtl: -1 }
  { name: 'quota', defaultTtl: -1 }
  { name: 'watchlists', defaultTtl: -1 }
  { name: 'strategies', defaultTtl: -1 }
  { name: 'backtests', defaultTtl: -1 }
  { name: 'paper', defaultTtl: -1 }
  { name: 'idempotency', defaultTtl: -1 }
  { name: 'audit', defaultTtl: -1 }
  { name: 'relay', defaultTtl: -1 }
  { name: 'durable', defaultTtl: -1 }
]

// Range index on every path (equality, range and single-field ORDER BY within a partition),
// composite indexes for the filtered, ordered list queries the API runs, and no index on the
// system and bulk fields nobody filters on.
var indexingPolicy = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    { path: '/*' }
  ]
  excludedPaths: [
    { path: '/"_etag"/?' }
    { path: '/payload/*' }
    { path: '/request/*' }
    { path: '/result/*' }
  ]
  compositeIndexes: [
    [
      { path: '/pk', order: 'ascending' }
      { path: '/_ts', order: 'descending' }
    ]
    [
      { path: '/pk', order: 'ascending' }
      { path: '/createdAt', order: 'descending' }
    ]
    [
      { path: '/status', order: 'ascending' }
      { path: '/createdAt', order: 'descending' }
    ]
  ]
}

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    capabilities: [
      { name: 'EnableServerless' }
    ]
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [
      { locationName: location, failoverPriority: 0, isZoneRedundant: false }
    ]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: publicNetworkAccess
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: { tier: 'Continuous7Days' }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for container in containers: {
  parent: database
  name: container.name
  properties: {
    resource: {
      id: container.name
      partitionKey: {
        paths: [ '/pk' ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: container.defaultTtl
      indexingPolicy: indexingPolicy
    }
  }
}]

output id string = account.id
output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
