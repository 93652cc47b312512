using System.CommandLine;
using IngestFleet.Embedding.Inference;
using IngestFleet.Worker.Node;

namespace IngestFleet.Cli.Commands;

/// <summary><c>ingestfleet node doctor</c>: is this node fit to take traffic (see <see cref="NodeDoctor"/>)?</summary>
internal static class NodeCommands
{
    public static Command Build()
    {
        var model = CommonOptions.Model();
        var ep = new Option<ExecutionProvider?>("--ep")
        {
            Description = "Execution provider to check (else IngestFleet__Embedder__ExecutionProvider, else auto)",
            CustomParser = r => r.Tokens.Count == 0 ? null : ExecutionProviders.Parse(r.Tokens[0].Value),
        };
        var profile = new Option<string?>("--profile") { Description = "Tuned profile the worker will use (else IngestFleet__Profile)" };
        var json = new Option<bool>("--json") { Description = "Print the findings as JSON" };
        var connection = new FleetConnection();
        var doctor = new Command("doctor", "Check that this node is fit to take traffic: EP (Core ML or why not), model bundle, profile and thread caps, " +
                                           "broker, S3, swap, free memory. Exits 8 when it is not.") { model, ep, profile, json };
        connection.AddTo(doctor);
        doctor.SetAction((p, ct) => CliErrors.Guard(async () =>
        {
            var overrides = new Dictionary<string, string?>(connection.Overrides(p));
            if (p.GetValue(model) is { } m) overrides["IngestFleet:Model"] = m;
            if (p.GetValue(ep) is { } e) overrides[$"{EmbedderOptions.SectionName}:ExecutionProvider"] = e.Name();
            if (p.GetValue(profile) is { } pf) overrides["IngestFleet:Profile"] = pf;
            // The worker's own configuration (same factory, same precedence), so the doctor checks what the worker will run.
            var config = IngestFleet.Worker.Hosting.WorkerHostFactory.CreateBuilder(new IngestFleet.Worker.Hosting.WorkerHostSpec { Options = overrides }).Configuration;
            var checks = await NodeDoctor.RunAsync(config, ct);
            Console.Write(p.GetValue(json) ? DoctorReport.ToJson(checks) + Environment.NewLine : DoctorReport.ToText(checks));
            return NodeDoctor.IsFit(checks) ? ExitCodes.Ok : ExitCodes.NodeNotFit;
        }));
        return new Command("node", "Mac and Linux node lifecycle") { doctor };
    }
}
