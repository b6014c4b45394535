using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Usine.Security;
using Usine.Server.Endpoints;
using Usine.Server.Ui;

namespace Usine.Server.Security;

/// <summary>
/// Authentication and authorization of every request. With an <c>auth</c> section, a request proves who it is with
/// an API key (<c>Authorization: Bearer usine_...</c> or <c>X-Api-Key</c>), a JWT bearer token, or the UI's session
/// cookie; without one, Usine listens on loopback only and every local caller is an admin.
/// </summary>
public static class UsineAuth
{
    public const string ViewerPolicy = "viewer";
    public const string OperatorPolicy = "operator";
    public const string AdminPolicy = "admin";

    internal const string SelectorScheme = "usine";
    internal const string ApiKeyScheme = "apikey";
    internal const string JwtScheme = "jwt";
    internal const string CookieScheme = "session";
    internal const string LocalScheme = "local";
    internal const string CookieName = "usine_session";
    internal const string KeyClaim = "usine:key";
    internal const string FailureItem = "usine.auth.failure";

    public static IServiceCollection AddUsineAuth(this IServiceCollection services, AuthDefinition auth, string dataDirectory)
    {
        services.AddSingleton(auth);
        var builder = services.AddAuthentication(SelectorScheme);
        if (!auth.Enabled)
        {
            builder.AddScheme<AuthenticationSchemeOptions, LocalHandler>(SelectorScheme, null);
        }
        else
        {
            var jwt = auth.Jwt is { } j ? new JwtValidation(j) : null;
            if (jwt is not null)
            {
                services.AddSingleton(jwt);
            }

            builder.AddPolicyScheme(SelectorScheme, null, o => o.ForwardDefaultSelector = http => Select(http, jwt is not null));
            builder.AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(ApiKeyScheme, null);
            if (jwt is not null)
            {
                builder.AddJwtBearer(JwtScheme, o => ConfigureJwt(o, jwt));
            }

            builder.AddCookie(CookieScheme, o =>
            {
                o.Cookie.Name = CookieName;
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest;
                o.ExpireTimeSpan = TimeSpan.FromHours(8);
                o.SlidingExpiration = true;
                o.Events.OnValidatePrincipal = ValidateSessionAsync;
            });

            // Session cookies stay valid across restarts: the keys that protect them live in the data directory.
            services.AddDataProtection()
                .SetApplicationName("Usine")
                .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDirectory, "dataprotection")));
        }

        services.AddAuthorizationBuilder()
            .AddPolicy(ViewerPolicy, p => p.AddRequirements(new RoleRequirement(Role.Viewer)))
            .AddPolicy(OperatorPolicy, p => p.AddRequirements(new RoleRequirement(Role.Operator)))
            .AddPolicy(AdminPolicy, p => p.AddRequirements(new RoleRequirement(Role.Admin)))
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().AddRequirements(new RoleRequirement(Role.Viewer)).Build());
        services.AddSingleton<IAuthorizationHandler, RoleHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, ResultHandler>();
        return services;
    }

    /// <summary>Authenticates, then gives each request the plant scope of its caller, which every read passes to the store.</summary>
    public static WebApplication UseUsineAuth(this WebApplication app)
    {
        app.UseAuthentication();
        app.Use((http, next) =>
        {
            if (Caller.Of(http.User) is { Plants: { } plants })
            {
                http.Features.Set(new PlantScope(plants));
            }

            return next(http);
        });
        app.UseAuthorization();
        return app;
    }

    /// <summary>
    /// Refuses to serve beyond this machine without authentication: every address in <paramref name="urls"/> must be
    /// a loopback one when <paramref name="auth"/> has no key and no token issuer.
    /// </summary>
    public static void EnsureSafeToListen(string urls, AuthDefinition auth)
    {
        if (auth.Enabled)
        {
            return;
        }

        var open = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(u => !IsLoopback(u)).ToList();
        if (open.Count > 0)
        {
            throw new UsineException(
                $"refusing to listen on {string.Join(", ", open)} without authentication: anyone on the network could read and change the data. " +
                "Add an 'auth' section to the configuration with API keys ('usine keys new' makes one) or a JWT issuer (see docs/security.md), " +
                "or listen on loopback only (--urls http://127.0.0.1:5080)");
        }
    }

    internal static bool IsLoopback(string url)
    {
        // Kestrel's wildcards (http://*:5080, http://+:5080) are not URIs the parser accepts as hosts.
        var rest = url.Contains("://", StringComparison.Ordinal) ? url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..] : url;
        if (rest.StartsWith('*') || rest.StartsWith('+'))
        {
            return false;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }

    /// <summary>The name a write is audited under: the authenticated caller, and the user name the CLI sends, when there is one.</summary>
    public static string Actor(HttpContext http)
    {
        var said = http.Request.Headers["X-Usine-Actor"].ToString();
        if (said.Contains('%', StringComparison.Ordinal))
        {
            // Header values are ASCII: the CLI percent-encodes a user name with other letters.
            said = Uri.UnescapeDataString(said);
        }

        said = new string([.. said.Where(c => !char.IsControl(c))]).Trim();
        if (said.Length > 100)
        {
            said = said[..100];
        }

        var caller = Caller.Of(http.User);
        if (caller is null || caller.Name == LocalHandler.Name)
        {
            return said.Length == 0 ? "anonymous" : said;
        }

        return said.Length == 0 || said == caller.Name ? caller.Name : $"{caller.Name} ({said})";
    }

    private static string Select(HttpContext http, bool hasJwt)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header[7..].TrimStart().StartsWith(ApiKeys.Prefix, StringComparison.Ordinal) || !hasJwt ? ApiKeyScheme : JwtScheme;
        }

        if (http.Request.Headers.ContainsKey("X-Api-Key") || header.Length > 0)
        {
            return ApiKeyScheme;
        }

        return http.Request.Cookies.ContainsKey(CookieName) ? CookieScheme : ApiKeyScheme;
    }

    private static void ConfigureJwt(JwtBearerOptions o, JwtValidation jwt)
    {
        o.MapInboundClaims = false;
        o.TokenValidationParameters = jwt.Parameters;
        o.Events = new JwtBearerEvents
        {
            OnAuthenticationFailed = ctx =>
            {
                ctx.HttpContext.Items[FailureItem] = jwt.Describe(ctx.Exception);
                return Task.CompletedTask;
            },
            OnTokenValidated = ctx =>
            {
                var (caller, error) = jwt.Map(ctx.Principal!);
                if (caller is null)
                {
                    ctx.HttpContext.Items[FailureItem] = error;
                    ctx.Fail(error!);
                }
                else
                {
                    ctx.Principal = caller.ToPrincipal(JwtScheme);
                }

                return Task.CompletedTask;
            },
        };
    }

    /// <summary>A session made from an API key ends as soon as the key leaves the configuration or expires.</summary>
    private static Task ValidateSessionAsync(CookieValidatePrincipalContext ctx)
    {
        if (ctx.Principal?.FindFirst(KeyClaim)?.Value is { } keyName)
        {
            var auth = ctx.HttpContext.RequestServices.GetRequiredService<AuthDefinition>();
            var time = ctx.HttpContext.RequestServices.GetRequiredService<TimeProvider>();
            var key = auth.Keys.FirstOrDefault(k => k.Name == keyName);
            if (key is null || key.Expires <= time.GetUtcNow())
            {
                ctx.RejectPrincipal();
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>The caller of an API key, or why the key is refused.</summary>
    internal static (Caller? Caller, string? Error) CheckKey(AuthDefinition auth, string key, DateTimeOffset now)
    {
        if (ApiKeys.Find(auth.Keys, key) is not { } found)
        {
            return (null, "the API key is not known: check it was copied whole, and that its hash is in the auth section of the configuration");
        }

        if (found.Expires is { } expires && expires <= now)
        {
            return (null, $"the API key '{found.Name}' expired at {expires.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}");
        }

        return (new Caller("key:" + found.Name, found.Role, found.Plants), null);
    }

    /// <summary>API keys, from <c>Authorization: Bearer usine_...</c> or <c>X-Api-Key</c>.</summary>
    private sealed class ApiKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AuthDefinition auth, TimeProvider time)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            var header = Request.Headers.Authorization.ToString();
            string key;
            if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                key = header[7..].Trim();
            }
            else if (Request.Headers.TryGetValue("X-Api-Key", out var v))
            {
                key = v.ToString().Trim();
            }
            else if (header.Length > 0)
            {
                return Fail("the Authorization header must be 'Bearer <API key or token>'");
            }
            else
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var (caller, error) = CheckKey(auth, key, time.GetUtcNow());
            return caller is null
                ? Fail(error!)
                : Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(caller.ToPrincipal(ApiKeyScheme), ApiKeyScheme)));
        }

        private Task<AuthenticateResult> Fail(string error)
        {
            Context.Items[FailureItem] = error;
            return Task.FromResult(AuthenticateResult.Fail(error));
        }
    }

    /// <summary>The caller's role is at least the one required.</summary>
    private sealed record RoleRequirement(Role Role) : IAuthorizationRequirement;

    private sealed class RoleHandler : AuthorizationHandler<RoleRequirement>
    {
        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, RoleRequirement requirement)
        {
            if (Caller.Of(context.User) is { } caller && caller.Role >= requirement.Role)
            {
                context.Succeed(requirement);
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>401 and 403 as JSON that says what to do; a person browsing the UI goes to the sign-in page instead.</summary>
    private sealed class ResultHandler : IAuthorizationMiddlewareResultHandler
    {
        public async Task HandleAsync(RequestDelegate next, HttpContext http, AuthorizationPolicy policy, PolicyAuthorizationResult result)
        {
            if (result.Succeeded)
            {
                await next(http);
                return;
            }

            if (result.Challenged)
            {
                if (UiHost.WantsPage(http.Request))
                {
                    http.Response.Redirect(LoginEndpoints.LoginPath(http.Request.Path + http.Request.QueryString));
                    return;
                }

                var failure = http.Items[FailureItem] as string;
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                http.Response.Headers.WWWAuthenticate = failure is null ? "Bearer" : $"Bearer error=\"invalid_token\"";
                await http.Response.WriteAsJsonAsync(new ApiError(failure
                    ?? "authentication required: send 'Authorization: Bearer <API key or JWT>' (the CLI reads USINE_API_KEY); see docs/security.md"));
                return;
            }

            var needed = policy.Requirements.OfType<RoleRequirement>().Select(r => r.Role).DefaultIfEmpty(Role.Viewer).Max();
            var caller = Caller.Of(http.User);
            http.Response.StatusCode = StatusCodes.Status403Forbidden;
            await http.Response.WriteAsJsonAsync(new ApiError(caller is null
                ? $"{http.Request.Method} {http.Request.Path} needs the {Lower(needed)} role, and this identity has no Usine role"
                : $"{http.Request.Method} {http.Request.Path} needs the {Lower(needed)} role; {caller.Name} is {Lower(caller.Role)}"));
        }
    }

    internal static string Lower(Role role) => role.ToString().ToLowerInvariant();
}

/// <summary>Loopback only, no authentication configured: every caller is a local admin.</summary>
internal sealed class LocalHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string Name = "local";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
        Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new Caller(Name, Role.Admin, null).ToPrincipal(UsineAuth.LocalScheme), UsineAuth.LocalScheme)));
}
