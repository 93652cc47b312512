using IngestFleet.Embedding.Inference;
using IngestFleet.Embedding.Models;
using IngestFleet.Operations.Catalogs;

namespace IngestFleet.Cli;

/// <summary>One place that turns known failures into a message that names the problem and the fix, and an exit code.</summary>
public static class CliErrors
{
    public static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (ModelManifestException e) { return Fail(e.Message, ExitCodes.BadModel); }
        catch (GoldenPackMismatchException e) { return Fail(e.Message, ExitCodes.GoldenMismatch); }
        catch (ExecutionProviderUnavailableException e) { return Fail(e.Message, ExitCodes.EpUnavailable); }
        catch (CliInputException e) { return Fail(e.Message, e.ExitCode); }
        catch (Microsoft.Extensions.Options.OptionsValidationException e) { return Fail($"configuration: {string.Join("; ", e.Failures)}", ExitCodes.Usage); }
        catch (OperationCanceledException) { return Fail("cancelled.", 130); }
    }

    public static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"ingestfleet: error: {message}");
        return code;
    }
}

/// <summary>Bad user input with the exit code to report.</summary>
public sealed class CliInputException(string message, int exitCode = ExitCodes.BadInput) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
