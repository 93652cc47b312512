using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IngestFleet.Gateway.Security;

/// <summary>ASP.NET Core authentication for API keys: <c>Authorization: Bearer KEY</c> or <c>X-Api-Key: KEY</c>. The
/// principal carries the key's name and one <see cref="TenantClaim"/> per tenant it is bound to.</summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    ApiKeyRegistry registry) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string TenantClaim = "ingestfleet:tenant";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? key = null;
        if (Request.Headers.Authorization.ToString() is { Length: > 7 } auth && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            key = auth[7..].Trim();
        else if (Request.Headers["X-Api-Key"].ToString() is { Length: > 0 } header)
            key = header.Trim();
        if (key is null) return Task.FromResult(AuthenticateResult.NoResult());
        if (registry.Find(key) is not { } entry) return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
        var claims = entry.Tenants.Select(t => new Claim(TenantClaim, t)).Prepend(new Claim(ClaimTypes.Name, entry.Name));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = 401;
        Response.Headers.WWWAuthenticate = "Bearer";
        await Microsoft.AspNetCore.Http.Results.Problem(statusCode: 401, title: "An API key is required",
            detail: "Send Authorization: Bearer KEY (or X-Api-Key: KEY) with a key bound to the jobs' tenants.").ExecuteAsync(Context);
    }

    /// <summary>Whether the principal may submit jobs for the tenant.</summary>
    public static bool MaySubmitFor(ClaimsPrincipal user, string tenant) =>
        user.FindAll(TenantClaim).Any(c => c.Value == "*" || string.Equals(c.Value, tenant, StringComparison.Ordinal));
}
