namespace IngestFleet.ServiceDefaults;

/// <summary>
/// <c>HOST --healthcheck URL</c>: the hosts probe themselves for container health checks, since the runtime images
/// carry no curl or wget. Exit code 0 when the URL answers 200, 1 otherwise (with the reason on stderr).
/// </summary>
public static class HealthProbe
{
    public const string Flag = "--healthcheck";

    public static bool TryRun(string[] args, out int exitCode)
    {
        exitCode = 0;
        if (args.Length == 0 || args[0] != Flag) return false;
        var url = args.Length > 1 ? args[1] : "http://127.0.0.1:8081/healthz/ready";
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            using var response = http.GetAsync(new Uri(url)).GetAwaiter().GetResult();
            exitCode = response.IsSuccessStatusCode ? 0 : 1;
            if (exitCode != 0) Console.Error.WriteLine($"{url}: {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            Console.Error.WriteLine($"{url}: {e.Message}");
            exitCode = 1;
        }
        return true;
    }
}
