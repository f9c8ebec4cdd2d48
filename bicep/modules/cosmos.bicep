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
// compositeIndexes: one per list query that filters on equality and orders by another field
// (the store adapters put every filter in WHERE and the sort in ORDER BY).
var asc = 'ascending'
var desc = 'descending'
var containers = [
  { name: 'quotes', defaultTtl: -1, compositeIndexes: [] }
  { name: 'sync_state', defaultTtl: -1, compositeIndexes: [] }
  { name: 'quota', defaultTtl: -1, compositeIndexes: [] }
  { name: 'watchlists', defaultTtl: -1, compositeIndexes: [] }
  {
    name: 'strategies'
    defaultTtl: -1
    compositeIndexes: [
      [ { path: '/kind', order: asc }, { path: '/deleted', order: asc }, { path: '/createdAt', order: asc } ]
      [ { path: '/kind', order: asc }, { path: '/strategyId', order: asc }, { path: '/version', order: asc } ]
    ]
  }
  { name: 'backtests', defaultTtl: -1, compositeIndexes: [] }
  {
    name: 'paper'
    defaultTtl: -1
    compositeIndexes: [
      [ { path: '/kind', order: asc }, { path: '/createdAt', order: asc } ]
      [ { path: '/kind', order: asc }, { path: '/paperAccountId', order: asc }, { path: '/createdAt', order: desc } ]
      [ { path: '/kind', order: asc }, { path: '/paperAccountId', order: asc }, { path: '/status', order: asc }, { path: '/createdAt', order: desc } ]
      [ { path: '/kind', order: asc }, { path: '/status', order: asc }, { path: '/createdAt', order: asc } ]
    ]
  }
  { name: 'idempotency', defaultTtl: -1, compositeIndexes: [] }
  { name: 'journal', defaultTtl: -1, compositeIndexes: [] }
  {
    name: 'audit'
    defaultTtl: -1
    compositeIndexes: [
      [ { path: '/kind', order: asc }, { path: '/id', order: desc } ]
      [ { path: '/account', order: asc }, { path: '/id', order: desc } ]
      [ { path: '/kind', order: asc }, { path: '/account', order: asc }, { path: '/id', order: desc } ]
    ]
  }
  { name: 'relay', defaultTtl: -1, compositeIndexes: [] }
  { name: 'durable', defaultTtl: -1, compositeIndexes: [] }
]

// Range index on every path (equality, range and single-field ORDER BY), none on the system
// etag or on the stored backtest request (a strategy spec nobody filters on).
var indexingPolicy = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    { path: '/*' }
  ]
  excludedPaths: [
    { path: '/"_etag"/?' }
    { path: '/request/*' }
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
      indexingPolicy: union(indexingPolicy, { compositeIndexes: container.compositeIndexes })
    }
  }
}]

output id string = account.id
output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
