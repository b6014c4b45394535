using System.Security.Cryptography;
using System.Text;

namespace Usine.Security;

/// <summary>What a caller may do. Each role can do everything the ones below it can.</summary>
public enum Role
{
    /// <summary>Reads: status, models, records, aggregates, avatars, exports, SQL, dead letters, jobs, alerts.</summary>
    Viewer = 1,

    /// <summary>Repairs and feeds: pushes and imports, dead-letter replay, edit and discard, range replay, archive runs, rollup rebuilds.</summary>
    Operator = 2,

    /// <summary>Changes the platform itself: models and sources.</summary>
    Admin = 3,
}

/// <summary>An API key of the configuration. Only its SHA-256 is kept: the key itself is shown once, when it is made.</summary>
public sealed record ApiKeyDefinition
{
    public required string Name { get; init; }

    /// <summary>The SHA-256 of the key's text.</summary>
    public required byte[] Hash { get; init; }

    public required Role Role { get; init; }

    /// <summary>The plants the key may read; null for every plant.</summary>
    public IReadOnlySet<string>? Plants { get; init; }

    /// <summary>After this instant the key is refused.</summary>
    public DateTimeOffset? Expires { get; init; }

    public string? Origin { get; init; }
}

/// <summary>One key that may sign bearer tokens: a shared secret (HMAC) or a public key in PEM (RSA or EC).</summary>
public sealed record JwtSigningKey
{
    /// <summary>The bytes of a shared secret (HS256, HS384, HS512).</summary>
    public byte[]? Secret { get; init; }

    /// <summary>The text of a PEM public key (RS*, PS*, ES*).</summary>
    public string? PublicKeyPem { get; init; }

    /// <summary>Matches the token header's <c>kid</c> when set.</summary>
    public string? Id { get; init; }

    public string? Origin { get; init; }
}

/// <summary>Bearer tokens (JWT) issued by the plant's identity provider.</summary>
public sealed record JwtDefinition
{
    /// <summary>The most clock difference tolerated between the issuer and Usine.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(30);

    public required string Issuer { get; init; }

    public required string Audience { get; init; }

    public required IReadOnlyList<JwtSigningKey> Keys { get; init; }

    /// <summary>The claim holding the role (viewer, operator or admin).</summary>
    public string RoleClaim { get; init; } = "role";

    /// <summary>The claim holding the plants the token may read (an array or a space-separated list); absent for every plant.</summary>
    public string PlantsClaim { get; init; } = "plants";

    /// <summary>The claim naming the caller in the audit log.</summary>
    public string NameClaim { get; init; } = "sub";

    public TimeSpan ClockSkew { get; init; } = MaxClockSkew;

    public string? Origin { get; init; }
}

/// <summary>How callers prove who they are. Without any key or token issuer, Usine only listens on loopback.</summary>
public sealed class AuthDefinition
{
    public List<ApiKeyDefinition> Keys { get; } = [];

    public JwtDefinition? Jwt { get; set; }

    /// <summary>True when some key or a token issuer is configured: every request must then authenticate.</summary>
    public bool Enabled => Keys.Count > 0 || Jwt is not null;
}

/// <summary>Making, hashing and recognizing API keys.</summary>
public static class ApiKeys
{
    /// <summary>Every key starts so, which tells a key from a bearer token and makes a leaked key easy to find in a scan.</summary>
    public const string Prefix = "usine_";

    /// <summary>A new key: the prefix and 32 random bytes in base64url (256 bits, so a fast hash is enough to store it).</summary>
    public static string New() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>The form the configuration holds: <c>sha256:</c> and 64 hex digits.</summary>
    public static string HashText(string key) => "sha256:" + Convert.ToHexStringLower(Hash(key));

    /// <summary>Reads <c>sha256:HEX</c>, or null when it is not that.</summary>
    public static byte[]? ParseHash(string text)
    {
        if (!text.StartsWith("sha256:", StringComparison.Ordinal) || text.Length != 7 + 64)
        {
            return null;
        }

        try
        {
            return Convert.FromHexString(text.AsSpan(7));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The configured key whose hash is that of <paramref name="key"/>, compared in constant time.</summary>
    public static ApiKeyDefinition? Find(IEnumerable<ApiKeyDefinition> keys, string key)
    {
        var hash = Hash(key);
        ApiKeyDefinition? found = null;
        foreach (var k in keys)
        {
            if (CryptographicOperations.FixedTimeEquals(k.Hash, hash))
            {
                found = k;
            }
        }

        return found;
    }
}
