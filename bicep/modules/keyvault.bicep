// Key Vault (RBAC, soft delete) holding the market-data provider API keys. The name is
// deterministic (kv-<resource token>), so a redeploy reuses it: after `azd down --purge`
// the soft-deleted vault is purged and the name is free again. Purge protection would keep
// the name taken for the whole retention period and cannot be switched off once on
// (https://learn.microsoft.com/azure/templates/microsoft.keyvault/vaults), so it is opt-in.
param location string
param tags object
param name string
@description('Purge protection (irreversible): a deleted vault, and its name, stay until the retention ends, so `azd down --purge` then `azd up` fails. For long-lived prod environments.')
param purgeProtection bool = false
@description('Days a deleted vault stays recoverable (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 7
@secure()
param alphaVantageApiKeys string = ''
@secure()
param coinGeckoApiKey string = ''
@secure()
param finnhubApiKeys string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // The API does not accept false here: leave it out unless it is switched on.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource alphaVantageSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(alphaVantageApiKeys)) {
  parent: vault
  name: 'alphavantage-api-keys'
  properties: {
    value: alphaVantageApiKeys
    contentType: 'text/plain; comma-separated'
  }
}

resource coinGeckoSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(coinGeckoApiKey)) {
  parent: vault
  name: 'coingecko-api-key'
  properties: {
    value: coinGeckoApiKey
    contentType: 'text/plain'
  }
}

resource finnhubSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(finnhubApiKeys)) {
  parent: vault
  name: 'finnhub-api-keys'
  properties: {
    value: finnhubApiKeys
    contentType: 'text/plain; comma-separated'
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
