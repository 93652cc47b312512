using IngestFleet.Gateway;
using IngestFleet.ServiceDefaults;

// ingestfleet-gateway: configured by appsettings.json and IngestFleet__* environment variables; listens on
// ASPNETCORE_URLS (default http://127.0.0.1:8080).
if (HealthProbe.TryRun(args, out var probe)) return probe;
var app = GatewayApp.Build([], Environment.GetEnvironmentVariable("ASPNETCORE_URLS") ?? "http://127.0.0.1:8080");
await app.RunAsync();
return 0;
