// Key Vault (RBAC, soft delete, purge protection) holding the market-data provider API keys.
param location string
param tags object
param name string
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
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
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
output alphaVantageSecretUri string = empty(alphaVantageApiKeys) ? '' : '${vault.properties.vaultUri}secrets/alphavantage-api-keys'
output coinGeckoSecretUri string = empty(coinGeckoApiKey) ? '' : '${vault.properties.vaultUri}secrets/coingecko-api-key'
output finnhubSecretUri string = empty(finnhubApiKeys) ? '' : '${vault.properties.vaultUri}secrets/finnhub-api-keys'
