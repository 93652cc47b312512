using IngestFleet.Gateway;
using IngestFleet.ServiceDefaults;

// ingestfleet-gateway: configured by command-line keys (--IngestFleet:RabbitMq:Uri=…), IngestFleet__* environment
// variables and appsettings.json, in that order of precedence (GatewayApp.Build); listens on ASPNETCORE_URLS (or
// --urls=…), default http://127.0.0.1:8080.
if (HealthProbe.TryRun(args, out var probe)) return probe;
var app = GatewayApp.Build(new GatewayHostSpec { Args = args });
await app.RunAsync();
return 0;
