using System.Security.Claims;
using Usine.Security;

namespace Usine.Server.Security;

/// <summary>Who sent a request, once authenticated: the name the audit log records, the role, and the plants it may read.</summary>
public sealed record Caller(string Name, Role Role, IReadOnlySet<string>? Plants)
{
    internal const string RoleClaim = "usine:role";
    internal const string PlantClaim = "usine:plant";
    internal const string ScopeClaim = "usine:scope";
    internal const string ExpiresClaim = "usine:expires";
    internal const string ScopeAll = "all";
    internal const string ScopePlants = "plants";

    /// <summary>Whether the caller may read <paramref name="plant"/>.</summary>
    public bool MayRead(string plant) => Plants is null || Plants.Contains(plant);

    /// <summary>The caller behind an authenticated principal, or null when it carries no Usine role.</summary>
    public static Caller? Of(ClaimsPrincipal? user)
    {
        if (user?.Identity is not { IsAuthenticated: true } identity
            || user.FindFirst(RoleClaim)?.Value is not { } roleText
            || !Enum.TryParse<Role>(roleText, ignoreCase: true, out var role))
        {
            return null;
        }

        var plants = user.FindFirst(ScopeClaim)?.Value == ScopeAll
            ? null
            : new HashSet<string>(user.FindAll(PlantClaim).Select(c => c.Value), StringComparer.Ordinal);
        var expires = long.TryParse(user.FindFirst(ExpiresClaim)?.Value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : (DateTimeOffset?)null;
        return new Caller(identity.Name ?? "anonymous", role, plants) { Expires = expires };
    }

    /// <summary>When the key or token behind a web session stops being valid; null when it does not expire.</summary>
    public DateTimeOffset? Expires { get; init; }

    /// <summary>The identity a scheme hands to ASP.NET Core for this caller.</summary>
    public ClaimsPrincipal ToPrincipal(string scheme, IEnumerable<Claim>? extra = null)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.Name, Name),
            new(RoleClaim, Role.ToString().ToLowerInvariant()),
            new(ScopeClaim, Plants is null ? ScopeAll : ScopePlants),
        };
        claims.AddRange((Plants ?? new HashSet<string>()).Select(p => new Claim(PlantClaim, p)));
        if (Expires is { } expires)
        {
            claims.Add(new Claim(ExpiresClaim, expires.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        claims.AddRange(extra ?? []);
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.Name, RoleClaim));
    }
}
