using Usine.Security;
using YamlDotNet.RepresentationModel;

namespace Usine.Configuration;

public static partial class DefinitionLoader
{
    private static readonly string[] AuthKeys = ["keys", "jwt"];
    private static readonly string[] KeyKeys = ["name", "hash", "role", "plants", "expires", "description"];
    private static readonly string[] JwtKeys = ["issuer", "audience", "keys", "roleClaim", "plantsClaim", "nameClaim", "clockSkew"];
    private static readonly string[] SigningKeyKeys = ["secret", "publicKey", "id"];

    private static void ReadAuth(Ctx ctx, YamlNode node, UsineDefinitions defs, string? dir)
    {
        if (defs.AuthOrigin is { } first)
        {
            throw ctx.Error(node, $"the auth section is defined twice (first at {first}); keep one");
        }

        defs.AuthOrigin = ctx.Where(node);
        var map = ctx.Map(node, "auth");
        ctx.OnlyKeys(map, AuthKeys, "auth");
        if (ctx.Opt(map, "keys") is { } keys)
        {
            foreach (var k in ctx.Seq(keys, "auth.keys"))
            {
                var key = ReadApiKey(ctx, k);
                if (defs.Auth.Keys.FirstOrDefault(x => x.Name == key.Name) is { } same)
                {
                    throw ctx.Error(k, $"two API keys are named '{key.Name}' (first at {same.Origin})");
                }

                if (defs.Auth.Keys.FirstOrDefault(x => x.Hash.AsSpan().SequenceEqual(key.Hash)) is { } twin)
                {
                    throw ctx.Error(k, $"API key '{key.Name}' has the same hash as '{twin.Name}': make a new key with 'usine keys new'");
                }

                defs.Auth.Keys.Add(key);
            }
        }

        if (ctx.Opt(map, "jwt") is { } jwt)
        {
            defs.Auth.Jwt = ReadJwt(ctx, jwt, dir);
        }

        if (!defs.Auth.Enabled)
        {
            throw ctx.Error(node, "auth has no API key and no jwt issuer: add one, or remove the section to serve on loopback only");
        }
    }

    private static ApiKeyDefinition ReadApiKey(Ctx ctx, YamlNode node)
    {
        var map = ctx.Map(node, "an API key");
        ctx.OnlyKeys(map, KeyKeys, "an API key");
        var name = ctx.Str(ctx.Req(map, "name", "an API key"), "name");
        if (!SourceId().IsMatch(name))
        {
            throw ctx.Error(node, $"API key name '{name}' must be letters, digits and _ . : - (it appears in the audit log)");
        }

        var hashNode = ctx.Req(map, "hash", $"API key '{name}'");
        var hashText = ctx.Str(hashNode, "hash");
        if (hashText.StartsWith(ApiKeys.Prefix, StringComparison.Ordinal))
        {
            throw ctx.Error(hashNode, $"API key '{name}': this is a key, not its hash; the configuration keeps only the hash. Put '{ApiKeys.HashText(hashText)}' here and give the key to its user");
        }

        var hash = ApiKeys.ParseHash(hashText)
            ?? throw ctx.Error(hashNode, $"API key '{name}': hash must be 'sha256:' and 64 hex digits, as printed by 'usine keys new'");
        var role = ctx.Enum<Role>(ctx.Req(map, "role", $"API key '{name}'"), "role");
        DateTimeOffset? expires = null;
        if (ctx.Opt(map, "expires") is { } e)
        {
            var text = ctx.Str(e, "expires");
            expires = DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at)
                ? at
                : throw ctx.Error(e, $"expires '{text}' must be a date or an ISO 8601 time such as 2027-06-30 or 2027-06-30T18:00:00Z");
        }

        return new ApiKeyDefinition
        {
            Name = name,
            Hash = hash,
            Role = role,
            Plants = ReadPlants(ctx, map, $"API key '{name}'"),
            Expires = expires,
            Origin = ctx.Where(node),
        };
    }

    private static HashSet<string>? ReadPlants(Ctx ctx, YamlMappingNode map, string what)
    {
        if (ctx.Opt(map, "plants") is not { } node)
        {
            return null;
        }

        var plants = node is YamlScalarNode
            ? [ctx.Str(node, "plants")]
            : ctx.Seq(node, "plants").Select(p => ctx.Str(p, "plants")).ToList();
        if (plants.Count == 0 || plants.Any(string.IsNullOrWhiteSpace))
        {
            throw ctx.Error(node, $"{what}: plants must name at least one plant; leave it out for every plant");
        }

        return new HashSet<string>(plants, StringComparer.Ordinal);
    }

    private static JwtDefinition ReadJwt(Ctx ctx, YamlNode node, string? dir)
    {
        var map = ctx.Map(node, "auth.jwt");
        ctx.OnlyKeys(map, JwtKeys, "auth.jwt");
        var keys = new List<JwtSigningKey>();
        foreach (var k in ctx.Seq(ctx.Req(map, "keys", "auth.jwt"), "auth.jwt.keys"))
        {
            keys.Add(ReadSigningKey(ctx, k, dir));
        }

        if (keys.Count == 0)
        {
            throw ctx.Error(map, "auth.jwt.keys must list at least one signing key");
        }

        var skew = JwtDefinition.MaxClockSkew;
        if (ctx.Opt(map, "clockSkew") is { } s)
        {
            skew = Duration(ctx, s, "clockSkew", allowZero: true);
            if (skew > JwtDefinition.MaxClockSkew)
            {
                throw ctx.Error(s, $"clockSkew is at most {JwtDefinition.MaxClockSkew.TotalSeconds:0}s: a longer one keeps expired tokens valid");
            }
        }

        return new JwtDefinition
        {
            Issuer = ctx.Str(ctx.Req(map, "issuer", "auth.jwt"), "issuer"),
            Audience = ctx.Str(ctx.Req(map, "audience", "auth.jwt"), "audience"),
            Keys = keys,
            RoleClaim = ctx.OptStr(map, "roleClaim") ?? "role",
            PlantsClaim = ctx.OptStr(map, "plantsClaim") ?? "plants",
            NameClaim = ctx.OptStr(map, "nameClaim") ?? "sub",
            ClockSkew = skew,
            Origin = ctx.Where(node),
        };
    }

    private static JwtSigningKey ReadSigningKey(Ctx ctx, YamlNode node, string? dir)
    {
        var map = ctx.Map(node, "a signing key");
        ctx.OnlyKeys(map, SigningKeyKeys, "a signing key");
        var id = ctx.OptStr(map, "id");
        if (ctx.Opt(map, "secret") is { } secretNode)
        {
            if (ctx.Opt(map, "publicKey") is not null)
            {
                throw ctx.Error(node, "a signing key is either a secret or a publicKey, not both");
            }

            // Secrets stay out of the file: ${NAME} reads the environment variable NAME at start-up.
            var secret = Internal.EnvironmentReferences.Expand(ctx.Str(secretNode, "secret"), name =>
                ctx.Error(secretNode, $"secret refers to the environment variable {name}, which is not set"));
            var bytes = System.Text.Encoding.UTF8.GetBytes(secret);
            if (bytes.Length < 32)
            {
                throw ctx.Error(secretNode, $"a signing secret needs at least 32 bytes (256 bits) for HS256; this one has {bytes.Length}");
            }

            return new JwtSigningKey { Secret = bytes, Id = id, Origin = ctx.Where(node) };
        }

        var pkNode = ctx.Opt(map, "publicKey") ?? throw ctx.Error(node, "a signing key needs 'secret' (HMAC) or 'publicKey' (a PEM file of an RSA or EC public key)");
        var file = ctx.Str(pkNode, "publicKey");
        var full = System.IO.Path.Combine(dir ?? Directory.GetCurrentDirectory(), file);
        if (!File.Exists(full))
        {
            throw ctx.Error(pkNode, $"publicKey file {full} does not exist");
        }

        var pem = File.ReadAllText(full);
        if (!IsPublicKeyPem(pem))
        {
            throw ctx.Error(pkNode, $"publicKey file {full} is not a PEM public key of RSA or EC (-----BEGIN PUBLIC KEY-----)");
        }

        return new JwtSigningKey { PublicKeyPem = pem, Id = id, Origin = ctx.Where(node) };
    }

    private static bool IsPublicKeyPem(string pem)
    {
        using var rsa = System.Security.Cryptography.RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            return true;
        }
        catch (ArgumentException)
        {
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
        }

        using var ec = System.Security.Cryptography.ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return false;
        }
    }
}
