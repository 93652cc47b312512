using System.Diagnostics;
using IngestFleet.Benchmarks;

// Usage: dotnet run --project tests/IngestFleet.Benchmarks -c Release -- [core|preprocess|decode-budget|e2e|isolation|versus|latency|gateway|weights|shapes|faults|quantisation|embed|all] [--quick]
// latency takes --delay-ms N (default 40), --depths 1,2,3 (batches in flight to compare) and --models clip-tiny,vit-b32.
// quantisation takes --vectors N (default 20000 caption vectors per revision).
// e2e, isolation and faults need RabbitMQ and an S3 server: source .ci/services.sh first (it exports their addresses).
if (args is ["versus-minimal", ..]) return await VersusBenchmark.MinimalMainAsync(args);
if (args is ["weights-probe", ..]) return WeightsBenchmark.ProbeMain(args);
if (args is ["shapes-probe", ..]) return StaticShapeBenchmark.ProbeMain(args);
if (args is ["decode-budget-probe", ..]) return DecodeBudgetBenchmark.ProbeMain(args);
var which = args.FirstOrDefault() is { } first && !first.StartsWith("--", StringComparison.Ordinal) ? first : "core";
var quick = args.Contains("--quick");
Console.WriteLine($"machine: {Environment.ProcessorCount} logical cores, {Environment.OSVersion}, {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}");
Console.WriteLine($"started {DateTime.UtcNow:u}");
var total = Stopwatch.StartNew();
if (which is "preprocess")
    PreprocessBenchmark.Run(quick);
if (which is "core" or "all")
{
    PreprocessBenchmark.Run(quick);
    OrtBenchmark.Run(quick);
}
if (which is "e2e" or "all")
    await EndToEndBenchmark.RunAsync(quick);
if (which is "isolation" or "all")
    await IsolationBenchmark.RunAsync(quick);
if (which is "versus" or "all")
    await VersusBenchmark.RunAsync(quick);
if (which is "latency" or "all")
    await LatencyBenchmark.RunAsync(quick, args);
if (which is "gateway" or "all")
    await GatewayBenchmark.RunAsync(quick);
if (which is "embed" or "all")
    await EmbedQueryBenchmark.RunAsync(quick, args);
if (which is "quantisation" or "all")
    await QuantisationBenchmark.RunAsync(quick, args);
if (which is "decode-budget" or "all")
    await DecodeBudgetBenchmark.RunAsync();
if (which is "weights" or "all")
    await WeightsBenchmark.RunAsync();
if (which is "shapes" or "all")
    await StaticShapeBenchmark.RunAsync(quick);
var ok = true;
if (which is "faults" or "all")
    ok = await FaultsBenchmark.RunAsync(quick);
Console.WriteLine($"finished in {total.Elapsed.TotalSeconds:0} s");
return ok ? 0 : 1;
