// Container Apps environment (logs to Log Analytics through diagnostic settings, no shared
// key) and the Finnhub relay. The relay serves nobody: it pushes trades to Web PubSub, so it
// has no ingress, and its probes are declared on the port it listens on whatever image runs
// (with ingress on and no probes, Container Apps would add TCP probes on the ingress target
// port). With Finnhub keys it runs exactly one replica (one websocket per key); without them
// it is scaled to zero: no ingress and minReplicas 0 means no replica starts, instead of a
// relay that exits because FINNHUB_API_KEYS is empty.
param location string
param tags object
param environmentName string
param relayAppName string
param logAnalyticsId string
param identityId string
param registryLoginServer string
@description('Image to run: the one azd deployed (read from the running app), or the placeholder until the first `azd deploy`.')
param relayImage string
@description('Port the relay serves /healthz and /readyz on (RELAY_HTTP_PORT; the image exposes 8080).')
param relayPort int = 8080
@description('True when Finnhub keys are in Key Vault: one replica runs. False: zero replicas.')
param relayEnabled bool
@description('Plain environment variables (name/value) for the relay, built in main.bicep.')
param env array
@description('Key Vault secrets: [{ name: ENV_NAME, secretName, keyVaultUrl, provided }]; unprovided ones are set to \'\'.')
param keyVaultSecrets array = []
@description('Where the relay spools received trades before archiving (an EmptyDir volume: survives container restarts within the replica).')
param spoolDir string = '/var/spool/relay'
param cpu string = '0.5'
param memory string = '1Gi'

var providedSecrets = filter(keyVaultSecrets, s => s.provided)
var secretEnv = [for s in keyVaultSecrets: (s.provided) ? { name: s.name, secretRef: s.secretName } : { name: s.name, value: '' }]
var secrets = [for s in providedSecrets: {
  name: s.secretName
  keyVaultUrl: s.keyVaultUrl
  identity: identityId
}]
// Always these, on relayPort: `azd deploy` changes only the image, so whatever the first
// provision declares is what the relay gets.
var probes = [
  {
    type: 'Liveness'
    httpGet: { path: '/healthz', port: relayPort }
    initialDelaySeconds: 5
    periodSeconds: 15
    failureThreshold: 3
  }
  {
    type: 'Readiness'
    httpGet: { path: '/readyz', port: relayPort }
    initialDelaySeconds: 5
    periodSeconds: 10
    failureThreshold: 6
  }
  {
    type: 'Startup'
    httpGet: { path: '/healthz', port: relayPort }
    periodSeconds: 5
    failureThreshold: 24
  }
]
var replicas = relayEnabled ? 1 : 0

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: [
      { name: 'Consumption', workloadProfileType: 'Consumption' }
    ]
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: environment
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      { categoryGroup: 'allLogs', enabled: true }
    ]
    metrics: [
      { category: 'AllMetrics', enabled: true }
    ]
  }
}

resource relay 'Microsoft.App/containerApps@2024-03-01' = {
  name: relayAppName
  location: location
  tags: union(tags, { 'azd-service-name': 'relay' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      // no `ingress`: nothing calls the relay (see the header)
      registries: [
        { server: registryLoginServer, identity: identityId }
      ]
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'relay'
          image: relayImage
          env: concat(env, secretEnv)
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          probes: probes
          volumeMounts: [
            { volumeName: 'spool', mountPath: spoolDir }
          ]
        }
      ]
      volumes: [
        { name: 'spool', storageType: 'EmptyDir' }
      ]
      scale: {
        minReplicas: replicas
        maxReplicas: 1
      }
    }
  }
}

output environmentId string = environment.id
output environmentName string = environment.name
output relayName string = relay.name
output relayReplicas int = replicas
