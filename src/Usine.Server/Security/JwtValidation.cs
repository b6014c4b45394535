using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using Usine.Security;

namespace Usine.Server.Security;

/// <summary>
/// Checks bearer tokens against the configured issuer, audience and signing keys, and turns a valid token's claims
/// into a <see cref="Caller"/>. The API's bearer scheme and the UI's sign-in page share it.
/// </summary>
public sealed class JwtValidation
{
    private readonly JwtDefinition _jwt;

    public JwtValidation(JwtDefinition jwt)
    {
        _jwt = jwt;
        Parameters = new TokenValidationParameters
        {
            ValidIssuer = jwt.Issuer,
            ValidAudience = jwt.Audience,
            IssuerSigningKeys = [.. jwt.Keys.Select(SigningKey)],
            ClockSkew = jwt.ClockSkew,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            NameClaimType = jwt.NameClaim,
            RoleClaimType = jwt.RoleClaim,
        };
    }

    public TokenValidationParameters Parameters { get; }

    /// <summary>The caller a validated token speaks for, or the reason it cannot be used.</summary>
    public (Caller? Caller, string? Error) Map(ClaimsPrincipal principal)
    {
        var roles = Values(principal, _jwt.RoleClaim)
            .Select(v => Enum.TryParse<Role>(v, ignoreCase: true, out var r) && !int.TryParse(v, out _) ? r : (Role?)null)
            .OfType<Role>()
            .ToList();
        if (roles.Count == 0)
        {
            return (null, $"the bearer token has no '{_jwt.RoleClaim}' claim with viewer, operator or admin");
        }

        var name = principal.FindFirst(_jwt.NameClaim)?.Value;
        if (string.IsNullOrWhiteSpace(name))
        {
            return (null, $"the bearer token has no '{_jwt.NameClaim}' claim naming its holder");
        }

        var plantClaims = principal.FindAll(_jwt.PlantsClaim).ToList();
        HashSet<string>? plants = plantClaims.Count == 0
            ? null
            : new HashSet<string>(Values(principal, _jwt.PlantsClaim), StringComparer.Ordinal);
        return (new Caller("jwt:" + name, roles.Max(), plants), null);
    }

    /// <summary>One line an operator or a client can act on, for a token that failed validation.</summary>
    public string Describe(Exception ex) => ex switch
    {
        SecurityTokenExpiredException e => $"the bearer token expired at {e.Expires:yyyy-MM-ddTHH:mm:ssZ}; get a new one",
        SecurityTokenNotYetValidException e => $"the bearer token is not valid before {e.NotBefore:yyyy-MM-ddTHH:mm:ssZ}",
        SecurityTokenInvalidAudienceException e => $"the bearer token is not for audience '{_jwt.Audience}'" + (string.IsNullOrEmpty(e.InvalidAudience) ? "" : $" (it is for '{e.InvalidAudience}')"),
        SecurityTokenInvalidIssuerException e => $"the bearer token is not from issuer '{_jwt.Issuer}'" + (string.IsNullOrEmpty(e.InvalidIssuer) ? "" : $" (it is from '{e.InvalidIssuer}')"),
        SecurityTokenNoExpirationException => "the bearer token has no expiry (exp); Usine accepts only tokens that expire",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the bearer token's signature matches none of the configured signing keys",
        SecurityTokenMalformedException => "the bearer token is neither an API key (usine_...) nor a well-formed JWT",
        _ => "the bearer token is not valid: " + FirstLine(ex.Message),
    };

    /// <summary>The values of a claim, whether the token holds an array, one value, or a space- or comma-separated list.</summary>
    private static IEnumerable<string> Values(ClaimsPrincipal principal, string type) =>
        principal.FindAll(type).SelectMany(c => c.Value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static SecurityKey SigningKey(JwtSigningKey key)
    {
        SecurityKey k;
        if (key.Secret is { } secret)
        {
            k = new SymmetricSecurityKey(secret);
        }
        else
        {
            var pem = key.PublicKeyPem ?? throw new InvalidOperationException("a signing key without a secret or a public key");
            try
            {
                var rsa = RSA.Create();
                rsa.ImportFromPem(pem);
                k = new RsaSecurityKey(rsa);
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                var ec = ECDsa.Create();
                ec.ImportFromPem(pem);
                k = new ECDsaSecurityKey(ec);
            }
        }

        k.KeyId = key.Id;
        return k;
    }

    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n', StringComparison.Ordinal);
        return i < 0 ? s : s[..i];
    }
}
