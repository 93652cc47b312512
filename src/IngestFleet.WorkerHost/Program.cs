using IngestFleet.Embedding.Models;
using IngestFleet.ServiceDefaults;
using IngestFleet.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// ingestfleet-worker: configured by appsettings.json and IngestFleet__* environment variables (IngestFleet__Model picks
// the model: a manifest path, a revision folder or a revision name under INGESTFLEET_MODELS).
var builder = Host.CreateApplicationBuilder(args);
builder.AddServiceDefaults("ingestfleet-worker");
builder.AddIngestFleetWorker(FleetTransport.RabbitMq, ModelLocator.Load(builder.Configuration["IngestFleet:Model"]));
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = WorkerHosting.DrainBudget + TimeSpan.FromSeconds(5));
using var host = builder.Build();
await host.RunWorkerAsync();
