using IngestFleet.Embedding.Models;
using IngestFleet.ServiceDefaults;
using IngestFleet.Worker.Bundles;
using IngestFleet.Worker.Hosting;
using IngestFleet.Worker.Node;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// ingestfleet-worker: configured by appsettings.json and IngestFleet__* environment variables (IngestFleet__Model picks
// the model: a manifest path, a revision folder or a revision name under INGESTFLEET_MODELS).
if (HealthProbe.TryRun(args, out var probe)) return probe;
var builder = Host.CreateApplicationBuilder(args);
if (args is ["--doctor", ..])
{
    // The same checks as `ingestfleet node doctor`, from the worker's own configuration; exit 8 when not fit.
    var checks = await NodeDoctor.RunAsync(builder.Configuration, CancellationToken.None);
    Console.Write(args.Contains("--json") ? DoctorReport.ToJson(checks) + Environment.NewLine : DoctorReport.ToText(checks));
    return NodeDoctor.IsFit(checks) ? 0 : 8;
}
builder.AddServiceDefaults("ingestfleet-worker");
builder.AddIngestFleetWorker(FleetTransport.RabbitMq, await WorkerModels.LoadAsync(builder.Configuration["IngestFleet:Model"], builder.Configuration, CancellationToken.None));
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = WorkerHosting.DrainBudget + TimeSpan.FromSeconds(5));
using var host = builder.Build();
await host.RunWorkerAsync();
return 0;
