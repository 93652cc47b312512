using IngestFleet.ServiceDefaults;
using IngestFleet.Worker.Hosting;
using IngestFleet.Worker.Node;

// ingestfleet-worker: configured by command-line keys (--IngestFleet:Fleet:BatchSize=8), IngestFleet__* environment
// variables and appsettings.json, in that order of precedence (WorkerHostFactory). IngestFleet__Model picks the model:
// a manifest path, a revision folder, a revision name under INGESTFLEET_MODELS, or s3://BUCKET/models/TENANT/REVISION.
if (HealthProbe.TryRun(args, out var probe)) return probe;
var doctor = args is ["--doctor", ..];
var spec = new WorkerHostSpec { Args = doctor ? [.. args.Where(a => a is not "--doctor" and not "--json")] : args };
var builder = WorkerHostFactory.CreateBuilder(spec);
if (doctor)
{
    // The same checks as `ingestfleet node doctor`, from the worker's own configuration; exit 8 when not fit.
    var checks = await NodeDoctor.RunAsync(builder.Configuration, CancellationToken.None);
    Console.Write(args.Contains("--json") ? DoctorReport.ToJson(checks) + Environment.NewLine : DoctorReport.ToText(checks));
    return NodeDoctor.IsFit(checks) ? 0 : 8;
}
using var host = await WorkerHostFactory.BuildAsync(builder, spec, CancellationToken.None);
try
{
    await host.RunWorkerAsync();
}
catch (Microsoft.Extensions.Options.OptionsValidationException e)
{
    // Exit 1, as `ingestfleet worker` does: the configuration is refused (for example no s3:// source allow-list).
    await Console.Error.WriteLineAsync($"ingestfleet-worker: configuration: {string.Join("; ", e.Failures)}");
    return 1;
}
catch (FleetUnreachableException e)
{
    // Exit 7, as `ingestfleet worker` does: the broker or the store cannot be reached (a supervisor restarts the worker).
    await Console.Error.WriteLineAsync($"ingestfleet-worker: {e.Message}");
    return 7;
}
return 0;
