using System.CommandLine;
using IngestFleet.Cli.Commands;

var root = new RootCommand("IngestFleet: image-embedding ingest fleet (CLIP/SigLIP on ONNX Runtime)");
root.Subcommands.Add(ModelsCommands.Build());
root.Subcommands.Add(EmbedCommand.Build());
return await root.Parse(args).InvokeAsync();
