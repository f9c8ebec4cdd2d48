// tradingJournal Functions: every Azure resource the suite needs, for `azd up`.
// Identity-based connections only: one user-assigned managed identity, data-plane roles,
// shared-key / local auth off on Storage, Cosmos DB, Web PubSub and Application Insights.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; names the resource group and seeds resource names.')
param environmentName string

// Regions that offer Flex Consumption, as Microsoft's azd quickstart for Flex Consumption
// lists them (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep), minus the
// early-access eastus2euap; source and list in tests/deploy/reference/azure_platform.yaml.
// Live list: `az functionapp list-flexconsumption-locations`.
@minLength(1)
@description('Azure region for every resource; one that offers Flex Consumption.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

@description('Deployment stage reported by the app (ENVIRONMENT); never "local" in Azure.')
@allowed([ 'dev', 'prod' ])
param stage string = 'dev'

@description('Version string the API reports on /api/health.')
param appVersion string = '0.1.0'

@description('Principal (user or CI service principal) given blob and Cosmos data access; azd sets AZURE_PRINCIPAL_ID.')
param principalId string = ''

@allowed([ 'User', 'ServicePrincipal', 'Group' ])
param principalType string = 'User'

@description('Flex Consumption instance memory in MB.')
@allowed([ 512, 2048, 4096 ])
param instanceMemoryMB int = 2048

@description('Flex Consumption maximum instance count (caps cost and provider fan-out); Flex accepts 40 to 1000.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Comma-separated symbols always ingested and relayed.')
param defaultSymbols string = 'AAPL,MSFT,SPY,BTC-USD'

@description('Trusted OIDC issuer URLs, comma-separated (e.g. https://login.microsoftonline.com/<tenant>/v2.0).')
param authIssuers string = ''

@description('Expected audience ("aud") of API tokens.')
param authAudience string = 'api://tradingjournal'

@description('Claim that carries viewer/trader/admin.')
param authRoleClaim string = 'roles'

@description('Browser origins allowed to call the API (CORS).')
param allowedOrigins array = []

@secure()
@description('Alpha Vantage API keys, comma-separated; stored in Key Vault. Empty: provider off.')
param alphaVantageApiKeys string = ''

@description('True when the Alpha Vantage keys allow TIME_SERIES_DAILY_ADJUSTED.')
param alphaVantagePremium bool = false

@secure()
@description('CoinGecko API key; stored in Key Vault. Empty: keyless demo limits.')
param coinGeckoApiKey string = ''

@allowed([ 'demo', 'pro' ])
param coinGeckoKeyKind string = 'demo'

@secure()
@description('Finnhub API keys for the relay, comma-separated (one websocket each); stored in Key Vault. Empty and none stored before: the relay is scaled to zero.')
param finnhubApiKeys string = ''

// Whether a provider's key is already in Key Vault from an earlier provision. Each is the
// output of the same name from the last `azd provision` (azd writes outputs to the
// environment's .env and main.parameters.json reads them back), so a provision run without
// the key variables keeps the Key Vault references instead of blanking them. The azure.yaml
// `postdown` hook resets them, since `azd down --purge` deletes the secrets.
@description('True when the Alpha Vantage keys were stored in Key Vault by an earlier provision (ALPHAVANTAGE_KEYS_IN_VAULT).')
param alphaVantageKeysInVault bool = false
@description('True when the CoinGecko key was stored in Key Vault by an earlier provision (COINGECKO_KEY_IN_VAULT).')
param coinGeckoKeyInVault bool = false
@description('True when the Finnhub keys were stored in Key Vault by an earlier provision (FINNHUB_KEYS_IN_VAULT).')
param finnhubKeysInVault bool = false

@description('Ingest the bundled real sample prices (GOOG, S&P 500) while no Alpha Vantage key is set, so a keyless deployment has data.')
param sampleDataEnabled bool = true

@description('Largest backtest parameter grid accepted.')
@minValue(1)
param backtestMaxCombinations int = 50000

@allowed([ 'DEBUG', 'INFO', 'WARNING', 'ERROR' ])
param logLevel string = 'INFO'

@description('Web PubSub tier; Free_F1 allows 20 connections and 20k messages a day, too few for the live feed.')
@allowed([ 'Free_F1', 'Standard_S1', 'Premium_P1' ])
param webPubSubSku string = 'Standard_S1'

@description('True once azd has deployed the relay (SERVICE_RELAY_RESOURCE_EXISTS): a provision then keeps the running image instead of the placeholder.')
param relayExists bool = false

@description('Port the relay serves /healthz and /readyz on.')
param relayPort int = 8080

@description('Storage redundancy; zone-redundant by default, Standard_GZRS adds a paired region.')
@allowed([ 'Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_RAGRS', 'Standard_GZRS' ])
param storageSku string = 'Standard_ZRS'

@description('Always-ready instances for the `durable` scale group (Microsoft recommends 1 for Durable Functions on Flex Consumption; 0 lets it scale from zero).')
@minValue(0)
param durableAlwaysReadyInstances int = 1

@description('Durable maxQueuePollingInterval (hh:mm:ss); Microsoft recommends 10 s or less on Flex Consumption, the extension defaults to 1 s there.')
param durableMaxQueuePollingInterval string = '00:00:01'

@description('Durable Functions backend: the Durable Task Scheduler (Microsoft\'s recommended backend: managed identity, a dashboard, billed per action on Consumption) or the Azure Storage provider (queues and tables in the app\'s storage account).')
@allowed([ 'DurableTaskScheduler', 'AzureStorage' ])
param durableBackend string = 'DurableTaskScheduler'

@description('Durable Task Scheduler SKU: Consumption (pay per action, up to 500 actions/s) or Dedicated (capacity units of 2,000 actions/s, a fixed monthly price each).')
@allowed([ 'Consumption', 'Dedicated' ])
param durableTaskSchedulerSku string = 'Consumption'

@description('Dedicated SKU capacity units (1-3; 3 for zone redundancy); ignored on Consumption.')
@minValue(1)
@maxValue(3)
param durableTaskSchedulerCapacity int = 1

@description('Key Vault purge protection (irreversible; blocks `azd down --purge` then `azd up` with the same environment name until the retention ends).')
param keyVaultPurgeProtection bool = false

var abbrs = {
  resourceGroup: 'rg-'
  identity: 'id-'
  storage: 'st'
  cosmos: 'cosmos-'
  webPubSub: 'wps-'
  keyVault: 'kv-'
  logAnalytics: 'log-'
  appInsights: 'appi-'
  plan: 'plan-'
  functionApp: 'func-'
  containerEnv: 'cae-'
  containerApp: 'ca-'
  registry: 'cr'
  durableTaskScheduler: 'dts-'
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName, application: 'tradingjournal-functions' }

var functionAppName = '${abbrs.functionApp}${resourceToken}'
var keyVaultName = '${abbrs.keyVault}${resourceToken}'
var keyVaultUri = 'https://${keyVaultName}${environment().suffixes.keyvaultDns}'
var storageAccountName = '${abbrs.storage}${resourceToken}'
var cosmosAccountName = '${abbrs.cosmos}${resourceToken}'
var webPubSubName = '${abbrs.webPubSub}${resourceToken}'

// host.json extensions.durableTask.hubName: the Durable Task Scheduler task hub, or the
// prefix of the Azure Storage provider's queues, tables and containers.
var taskHubName = 'TradingJournalHub'
var useDurableTaskScheduler = durableBackend == 'DurableTaskScheduler'
var durableTaskSchedulerName = '${abbrs.durableTaskScheduler}${resourceToken}'
var deploymentContainerName = 'app-package'
var lakeContainer = 'lake'
var rawContainer = 'raw'
var resultsContainer = 'results'
var auditContainer = 'audit'
var cosmosDatabaseName = 'tradingjournal'
var webPubSubHub = 'ticks'
var localDataDir = '/tmp/tradingjournal'

// Settings no application module reads but the runtime does, the same in every deployed
// environment. numba caches compiled kernels next to their source by default; the deployment
// package is mounted read-only on Flex Consumption, so the cache goes to the instance's
// writable temporary storage instead (each new instance still compiles once).
var numbaCacheDir = '/tmp/numba-cache'
var runtimeSettings = [
  { name: 'NUMBA_CACHE_DIR', value: numbaCacheDir }
]

// Every setting shared/config.py reads, as the Function App and the relay see it in Azure.
// Settings that only matter to the local host get an explicit value or '' (= unset).
var appSettings = [
  { name: 'APP_VERSION', value: appVersion }
  { name: 'ENVIRONMENT', value: stage }
  { name: 'LOG_LEVEL', value: logLevel }
  { name: 'PUBLIC_BASE_URL', value: 'https://${functionAppName}.azurewebsites.net' }

  { name: 'BLOB_BACKEND', value: 'azure' }
  { name: 'AZURE_STORAGE_ACCOUNT_URL', value: 'https://${storageAccountName}.blob.${environment().suffixes.storage}' }
  { name: 'AZURE_STORAGE_CONNECTION_STRING', value: '' }
  { name: 'LAKE_CONTAINER', value: lakeContainer }
  { name: 'RAW_CONTAINER', value: rawContainer }
  { name: 'RESULTS_CONTAINER', value: resultsContainer }
  { name: 'AUDIT_CONTAINER', value: auditContainer }
  { name: 'LOCAL_DATA_DIR', value: localDataDir }
  // The local blob store's URL-signing key: unused in Azure (BLOB_BACKEND=azure). A fixed
  // value, not a fresh random one: a setting that changes on every provision restarts both apps.
  { name: 'LOCAL_SIGNING_KEY', value: '' }

  { name: 'DOCUMENT_BACKEND', value: 'cosmos' }
  { name: 'COSMOS_ENDPOINT', value: 'https://${cosmosAccountName}.documents.azure.com:443/' }
  { name: 'COSMOS_KEY', value: '' }
  { name: 'COSMOS_DATABASE', value: cosmosDatabaseName }
  { name: 'COSMOS_ENDPOINT_DISCOVERY', value: 'true' }
  { name: 'SQLITE_PATH', value: '${localDataDir}/documents.sqlite3' }

  { name: 'DEFAULT_SYMBOLS', value: defaultSymbols }
  { name: 'ALPHAVANTAGE_BASE_URL', value: 'https://www.alphavantage.co' }
  { name: 'ALPHAVANTAGE_CALLS_PER_MINUTE', value: '5' }
  { name: 'ALPHAVANTAGE_CALLS_PER_DAY', value: '25' }
  { name: 'ALPHAVANTAGE_PREMIUM', value: string(alphaVantagePremium) }
  { name: 'YAHOO_ENABLED', value: 'true' }
  { name: 'YAHOO_CALLS_PER_MINUTE', value: '30' }
  { name: 'YAHOO_BASE_URL', value: '' }
  { name: 'COINGECKO_KEY_KIND', value: coinGeckoKeyKind }
  { name: 'COINGECKO_BASE_URL', value: '' }
  { name: 'COINGECKO_CALLS_PER_MINUTE', value: '30' }
  { name: 'SAMPLE_DATA_ENABLED', value: string(sampleDataEnabled) }
  { name: 'HTTP_TIMEOUT_SECONDS', value: '20' }
  { name: 'PROVIDER_RETRY_ATTEMPTS', value: '4' }
  { name: 'PROVIDER_RETRY_WAIT_INITIAL', value: '0.5' }
  { name: 'PROVIDER_RETRY_WAIT_MAX', value: '8' }
  { name: 'PROVIDER_RETRY_AFTER_MAX', value: '30' }
  { name: 'INGEST_DAILY_REFRESH_HOURS', value: '12' }
  { name: 'INGEST_HISTORY_DAYS', value: '120' }
  { name: 'BARS_MAX_ROWS', value: '100000' }

  { name: 'SCHEDULE_ALPHAVANTAGE', value: '0 */5 * * * *' }
  { name: 'SCHEDULE_YAHOO', value: '0 7 * * * *' }
  { name: 'SCHEDULE_COINGECKO', value: '0 */3 * * * *' }
  { name: 'SCHEDULE_COINGECKO_PING', value: '30 */5 * * * *' }
  { name: 'SCHEDULE_SAMPLE', value: '0 0 */6 * * *' }
  { name: 'SCHEDULE_PAPER_MATCHING', value: '*/15 * * * * *' }

  { name: 'WEBPUBSUB_ENDPOINT', value: 'https://${webPubSubName}.webpubsub.azure.com' }
  { name: 'WEBPUBSUB_CONNECTION_STRING', value: '' }
  { name: 'WEBPUBSUB_HUB', value: webPubSubHub }
  { name: 'FEED_TOKEN_MINUTES', value: '10' }
  { name: 'RELAY_ENABLED', value: finnhubInVault ? 'true' : 'false' }

  { name: 'AUTH_ISSUERS', value: authIssuers }
  { name: 'AUTH_AUDIENCE', value: authAudience }
  { name: 'AUTH_ROLE_CLAIM', value: authRoleClaim }
  { name: 'AUTH_ACCOUNT_CLAIM', value: 'sub' }
  { name: 'AUTH_CLOCK_SKEW_SECONDS', value: '60' }
  { name: 'AUTH_JWKS_TTL_SECONDS', value: '3600' }
  { name: 'AUTH_JWKS_REFETCH_SECONDS', value: '30' }
  { name: 'DEV_AUTH_ENABLED', value: 'false' }
  { name: 'DEV_ISSUER_KEY_FILE', value: '${localDataDir}/dev-issuer-key.pem' }
  { name: 'DEV_ISSUER', value: '' }

  { name: 'BACKTEST_MAX_COMBINATIONS', value: string(backtestMaxCombinations) }
  { name: 'BACKTEST_MAX_GRID_SIZE', value: '200000' }
  { name: 'BACKTEST_MAX_AXIS_VALUES', value: '10000' }
  { name: 'BACKTEST_CHUNK_TARGET_SECONDS', value: '3' }
  { name: 'BACKTEST_MAX_CHUNKS_PER_ORCHESTRATION', value: '64' }
  { name: 'BACKTEST_LAZY_FILES', value: 'true' }
  { name: 'BACKTEST_FILES_LEASE_SECONDS', value: '30' }
  { name: 'BACKTEST_FILES_WAIT_SECONDS', value: '5' }
  { name: 'BACKTEST_INLINE_SMALL_SWEEPS', value: 'true' }
  { name: 'BACKTEST_WORKERS', value: '1' }
  { name: 'BACKTEST_FAULT_INJECTION', value: '' }

  { name: 'DRIFT_SYNC_MAX_BARS', value: '20000' }
  { name: 'DRIFT_ACTIVE_RUNS_PER_ACCOUNT', value: '2' }
  { name: 'BROKER_ACCOUNT_TERMS_PER_ACCOUNT', value: '100' }

  { name: 'PAPER_SLIPPAGE_BPS', value: '5' }
  { name: 'PAPER_DEFAULT_STARTING_CASH', value: '100000' }
  { name: 'PAPER_MAX_QUOTE_AGE_SECONDS', value: '900' }
  { name: 'IDEMPOTENCY_TTL_SECONDS', value: '86400' }
  { name: 'AUDIT_DENIALS_PER_MINUTE', value: '120' }

  { name: 'WATCHLISTS_PER_ACCOUNT', value: '20' }
  { name: 'WATCHLIST_SYMBOLS_PER_ACCOUNT', value: '100' }
  { name: 'INGEST_MAX_SYMBOLS', value: '200' }
]

// Provider keys: Key Vault references when the secret is in the vault (given now, or stored
// by an earlier provision), '' (provider off / keyless) otherwise.
var alphaVantageInVault = (!empty(alphaVantageApiKeys)) || alphaVantageKeysInVault
var coinGeckoInVault = (!empty(coinGeckoApiKey)) || coinGeckoKeyInVault
var finnhubInVault = (!empty(finnhubApiKeys)) || finnhubKeysInVault
var secretSettings = [
  { name: 'ALPHAVANTAGE_API_KEYS', secretName: 'alphavantage-api-keys', provided: alphaVantageInVault }
  { name: 'COINGECKO_API_KEY', secretName: 'coingecko-api-key', provided: coinGeckoInVault }
  { name: 'FINNHUB_API_KEYS', secretName: 'finnhub-api-keys', provided: finnhubInVault }
]
var functionSecretSettings = [for s in secretSettings: {
  name: s.name
  value: (s.provided) ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${s.secretName})' : ''
}]

var relayAppName = '${abbrs.containerApp}relay-${resourceToken}'
// Runs until the first `azd deploy` replaces the image (azd changes only the image). The
// .NET sample app listens on 8080 and answers /healthz (dotnet/dotnet-docker
// samples/aspnetapp), so the relay's liveness and startup probes pass on it: no restart
// loop between provision and deploy (readiness, /readyz, stays false until the relay runs).
var relayPlaceholderImage = 'mcr.microsoft.com/dotnet/samples:aspnetapp'
// The image's spool folder (containerapps/relay/Dockerfile), owned by its non-root user.
var relaySpoolDir = '/var/spool/relay'

// Settings only the relay reads (containerapps/relay/settings.py).
var relaySettings = [
  { name: 'FINNHUB_WS_URL', value: 'wss://ws.finnhub.io' }
  { name: 'RELAY_ID', value: relayAppName }
  { name: 'RELAY_SYMBOLS_PER_CONNECTION', value: '50' }
  { name: 'RELAY_EXTRA_SYMBOLS', value: '' }
  { name: 'RELAY_WATCHLIST_REFRESH_SECONDS', value: '60' }
  { name: 'RELAY_HEARTBEAT_SECONDS', value: '30' }
  { name: 'RELAY_BACKOFF_INITIAL_SECONDS', value: '1' }
  { name: 'RELAY_BACKOFF_MAX_SECONDS', value: '60' }
  { name: 'RELAY_AUTH_BACKOFF_SECONDS', value: '3600' }
  { name: 'RELAY_CONNECT_TIMEOUT_SECONDS', value: '10' }
  { name: 'RELAY_BATCH_MS', value: '100' }
  { name: 'RELAY_BATCHING', value: 'true' }
  { name: 'RELAY_MAX_BATCH_TRADES', value: '1000' }
  { name: 'RELAY_MAX_DELAY_MS', value: '500' }
  { name: 'RELAY_WEBPUBSUB_CLIENT', value: 'rest' }
  { name: 'RELAY_ALL_TICKS_GROUP', value: 'true' }
  { name: 'RELAY_ARCHIVE_FLUSH_SECONDS', value: '10' }
  { name: 'RELAY_STOP_MERGE_SECONDS', value: '20' }
  { name: 'RELAY_SPOOL_DIR', value: relaySpoolDir }
  { name: 'RELAY_QUOTE_SECONDS', value: '5' }
  { name: 'RELAY_METRICS_SECONDS', value: '60' }
  { name: 'RELAY_HTTP_HOST', value: '0.0.0.0' }
  { name: 'RELAY_HTTP_PORT', value: string(relayPort) }
  { name: 'RELAY_READY_STALE_SECONDS', value: '120' }
  { name: 'RELAY_WRITE_QUOTES', value: 'true' }
  { name: 'RELAY_IN_DEVHOST', value: 'false' }
  { name: 'RELAY_REPLAY_RATE', value: '4' }
]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourceGroup}${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.identity}${resourceToken}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.logAnalytics}${resourceToken}'
    applicationInsightsName: '${abbrs.appInsights}${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: storageAccountName
    dataContainers: [ lakeContainer, rawContainer, resultsContainer, auditContainer ]
    taskHubName: taskHubName
    deploymentContainerName: deploymentContainerName
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    skuName: storageSku
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    location: location
    tags: tags
    accountName: cosmosAccountName
    databaseName: cosmosDatabaseName
  }
}

module webPubSub 'modules/webpubsub.bicep' = {
  name: 'webpubsub'
  scope: rg
  params: {
    location: location
    tags: tags
    name: webPubSubName
    hubName: webPubSubHub
    identityId: identity.outputs.id
    skuName: webPubSubSku
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: keyVaultName
    alphaVantageApiKeys: alphaVantageApiKeys
    coinGeckoApiKey: coinGeckoApiKey
    finnhubApiKeys: finnhubApiKeys
    purgeProtection: keyVaultPurgeProtection
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.registry}${resourceToken}'
  }
}

module durableTask 'modules/durabletask.bicep' = if (useDurableTaskScheduler) {
  name: 'durabletask'
  scope: rg
  params: {
    location: location
    tags: tags
    name: durableTaskSchedulerName
    taskHubName: taskHubName
    skuName: durableTaskSchedulerSku
    capacity: durableTaskSchedulerCapacity
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  dependsOn: [ durableTask ]
  params: {
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    webPubSubName: webPubSub.outputs.name
    keyVaultName: keyVault.outputs.name
    registryName: registry.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    durableTaskSchedulerEnabled: useDurableTaskScheduler
    durableTaskSchedulerName: durableTaskSchedulerName
    durableTaskHubName: taskHubName
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  dependsOn: [ roles ]
  params: {
    location: location
    tags: tags
    planName: '${abbrs.plan}${resourceToken}'
    appName: functionAppName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    cosmosEndpoint: cosmos.outputs.endpoint
    appSettings: concat(appSettings, runtimeSettings, functionSecretSettings)
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    allowedOrigins: allowedOrigins
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    durableMaxQueuePollingInterval: durableMaxQueuePollingInterval
    durableBackend: durableBackend
    durableTaskSchedulerEndpoint: useDurableTaskScheduler ? durableTask.outputs.endpoint : ''
  }
}

// azd's pattern for a container app whose image azd deploys: reuse the running image.
module relayImage 'modules/fetch-container-image.bicep' = {
  name: 'relay-image'
  scope: rg
  params: {
    exists: relayExists
    name: relayAppName
  }
}

module containerApps 'modules/containerapps.bicep' = {
  name: 'containerapps'
  scope: rg
  dependsOn: [ roles ]
  params: {
    location: location
    tags: tags
    environmentName: '${abbrs.containerEnv}${resourceToken}'
    relayAppName: relayAppName
    spoolDir: relaySpoolDir
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    identityId: identity.outputs.id
    registryLoginServer: registry.outputs.loginServer
    relayImage: empty(relayImage.outputs.containers) ? relayPlaceholderImage : relayImage.outputs.containers[0].image
    relayPort: relayPort
    relayEnabled: finnhubInVault
    env: concat(appSettings, runtimeSettings, relaySettings, [
      { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: monitoring.outputs.connectionString }
      { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.outputs.clientId};Authorization=AAD' }
      { name: 'AZURE_CLIENT_ID', value: identity.outputs.clientId }
    ])
    keyVaultSecrets: [for s in secretSettings: {
      name: s.name
      secretName: s.secretName
      keyVaultUrl: '${keyVaultUri}/secrets/${s.secretName}'
      provided: s.provided
    }]
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_APPS_ENVIRONMENT_NAME string = containerApps.outputs.environmentName
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output API_URL string = functionApp.outputs.apiUrl
output FEED_HUB string = webPubSub.outputs.hubName
output WEBPUBSUB_ENDPOINT string = webPubSub.outputs.endpoint
output WEBPUBSUB_NAME string = webPubSub.outputs.name
output RELAY_APP_NAME string = containerApps.outputs.relayName
output RELAY_STATUS string = finnhubInVault ? 'one replica (Finnhub keys in Key Vault)' : 'scaled to zero: no Finnhub keys (azd env set FINNHUB_API_KEYS <key>, then azd provision)'
// Read back by main.parameters.json on the next provision (see *KeysInVault above).
output ALPHAVANTAGE_KEYS_IN_VAULT bool = alphaVantageInVault
output COINGECKO_KEY_IN_VAULT bool = coinGeckoInVault
output FINNHUB_KEYS_IN_VAULT bool = finnhubInVault
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output COSMOS_ACCOUNT_NAME string = cosmos.outputs.name
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output KEY_VAULT_NAME string = keyVault.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_NAME string = monitoring.outputs.logAnalyticsName
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_NAME string = identity.outputs.name
output DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_NAME string = useDurableTaskScheduler ? durableTask.outputs.name : ''
output DURABLE_TASK_SCHEDULER_ENDPOINT string = useDurableTaskScheduler ? durableTask.outputs.endpoint : ''
output DURABLE_TASK_HUB_DASHBOARD_URL string = useDurableTaskScheduler ? durableTask.outputs.dashboardUrl : ''
