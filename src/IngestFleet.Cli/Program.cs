using IngestFleet.Worker.Hosting;
using System.CommandLine;
using IngestFleet.Cli.Commands;

var root = new RootCommand("IngestFleet: image-embedding ingest fleet (CLIP/SigLIP on ONNX Runtime)");
root.Subcommands.Add(IngestCommand.Build());
root.Subcommands.Add(EmbedCommand.Build());
root.Subcommands.Add(FleetCommands.Publish());
root.Subcommands.Add(FleetCommands.Worker());
root.Subcommands.Add(FleetCommands.Replay());
root.Subcommands.Add(VectorsCommands.Build());
root.Subcommands.Add(LimitsCommands.Limits());
root.Subcommands.Add(LimitsCommands.Gateway());
root.Subcommands.Add(LimitsCommands.GatewayKey());
root.Subcommands.Add(TuneCommand.Build());
root.Subcommands.Add(ModelsCommands.Build());
root.Subcommands.Add(NodeCommands.Build());
root.Subcommands.Add(SreCommands.Soak());
root.Subcommands.Add(SreCommands.Accept());
root.Subcommands.Add(SreCommands.Plan());
// Ctrl-C / SIGTERM cancel the command; the process is not killed until the command had time to finish its work
// (a worker drains its in-flight batches for up to 60 s; a soak writes its partial report).
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = WorkerHosting.DrainBudget + TimeSpan.FromSeconds(15) });
