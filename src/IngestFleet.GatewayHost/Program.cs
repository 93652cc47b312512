using IngestFleet.Gateway;

// ingestfleet-gateway: configured by appsettings.json and IngestFleet__* environment variables; listens on
// ASPNETCORE_URLS (default http://127.0.0.1:8080).
var app = GatewayApp.Build([], Environment.GetEnvironmentVariable("ASPNETCORE_URLS") ?? "http://127.0.0.1:8080");
await app.RunAsync();
