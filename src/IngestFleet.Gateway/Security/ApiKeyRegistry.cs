using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace IngestFleet.Gateway.Security;

/// <summary>The configured API keys (by hash), checked in constant time.</summary>
public sealed class ApiKeyRegistry
{
    private readonly List<(byte[] Hash, ApiKeyEntry Entry)> _keys;

    public ApiKeyRegistry(GatewayAuthOptions options)
    {
        var entries = new List<ApiKeyEntry>(options.Keys);
        if (options.KeysFile is { Length: > 0 } file)
            entries.AddRange(JsonSerializer.Deserialize<List<ApiKeyEntry>>(File.ReadAllText(file))
                ?? throw new InvalidOperationException($"{file}: expected a JSON array of {{name, sha256, tenants}}"));
        _keys = [];
        foreach (var e in entries)
        {
            if (e.Sha256.Length != 64 || !e.Sha256.All(Uri.IsHexDigit))
                throw new InvalidOperationException($"API key '{e.Name}': sha256 must be 64 hex digits (the SHA-256 of the key, never the key itself)");
            if (e.Tenants.Length == 0)
                throw new InvalidOperationException($"API key '{e.Name}': name the tenants it may submit for (\"*\" for all)");
            _keys.Add((Convert.FromHexString(e.Sha256), e));
        }
        if (_keys.Count == 0 && !options.AllowAnonymous)
            throw new InvalidOperationException(
                "The gateway has no API keys: set IngestFleet:Gateway:Auth:Keys or :KeysFile (see `ingestfleet gateway-key`), " +
                "or IngestFleet:Gateway:Auth:AllowAnonymous=true for a development stack.");
    }

    public int Count => _keys.Count;

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public ApiKeyEntry? Find(string presented)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        ApiKeyEntry? found = null;
        foreach (var (h, entry) in _keys)
            if (CryptographicOperations.FixedTimeEquals(h, hash)) found = entry; // no early exit: time does not depend on which key
        return found;
    }
}
