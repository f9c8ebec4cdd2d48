// Container Apps environment (logs to Log Analytics through diagnostic settings, no shared
// key) and the Finnhub relay: exactly one replica, always on, probed on /healthz and /readyz,
// secrets read from Key Vault by the managed identity.
param location string
param tags object
param environmentName string
param relayAppName string
param logAnalyticsId string
param identityId string
param registryLoginServer string
@description('Image to run; empty until `azd deploy` pushes the relay image.')
param relayImage string = ''
@description('Port the relay serves /healthz and /readyz on (the relay reads RELAY_PORT or its own setting).')
param relayPort int = 8080
@description('Plain environment variables (name/value) for the relay, built in main.bicep.')
param env array
@description('Key Vault secrets: [{ name: ENV_NAME, secretName, keyVaultUrl, provided }]; unprovided ones are set to \'\'.')
param keyVaultSecrets array = []
@description('Where the relay spools received trades before archiving (an EmptyDir volume: survives container restarts within the replica).')
param spoolDir string = '/var/spool/relay'
param cpu string = '0.5'
param memory string = '1Gi'

// Serves port 80; runs until `azd deploy` pushes the relay image.
var placeholderImage = 'mcr.microsoft.com/k8se/quickstart:latest'
var usePlaceholder = empty(relayImage)
var providedSecrets = filter(keyVaultSecrets, s => s.provided)
var secretEnv = [for s in keyVaultSecrets: (s.provided) ? { name: s.name, secretRef: s.secretName } : { name: s.name, value: '' }]
var secrets = [for s in providedSecrets: {
  name: s.secretName
  keyVaultUrl: s.keyVaultUrl
  identity: identityId
}]
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
      ingress: {
        external: false
        targetPort: usePlaceholder ? 80 : relayPort
        transport: 'http'
        allowInsecure: false
      }
      registries: [
        { server: registryLoginServer, identity: identityId }
      ]
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'relay'
          image: usePlaceholder ? placeholderImage : relayImage
          env: concat(env, secretEnv)
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          probes: usePlaceholder ? [] : probes
          volumeMounts: [
            { volumeName: 'spool', mountPath: spoolDir }
          ]
        }
      ]
      volumes: [
        { name: 'spool', storageType: 'EmptyDir' }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
    }
  }
}

output environmentId string = environment.id
output environmentName string = environment.name
output relayName string = relay.name
output relayFqdn string = relay.properties.configuration.ingress.fqdn
