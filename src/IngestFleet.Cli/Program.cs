using System.CommandLine;
using IngestFleet.Cli.Commands;

var root = new RootCommand("IngestFleet: image-embedding ingest fleet (CLIP/SigLIP on ONNX Runtime)");
root.Subcommands.Add(IngestCommand.Build());
root.Subcommands.Add(EmbedCommand.Build());
root.Subcommands.Add(FleetCommands.Publish());
root.Subcommands.Add(FleetCommands.Worker());
root.Subcommands.Add(FleetCommands.Replay());
root.Subcommands.Add(LimitsCommands.Limits());
root.Subcommands.Add(LimitsCommands.Gateway());
root.Subcommands.Add(TuneCommand.Build());
root.Subcommands.Add(ModelsCommands.Build());
root.Subcommands.Add(NodeCommands.Build());
return await root.Parse(args).InvokeAsync();
