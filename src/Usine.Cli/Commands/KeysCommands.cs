using Usine.Security;

namespace Usine.Cli.Commands;

internal sealed class KeysNewSettings : CommandSettings
{
    [CommandOption("--name <NAME>")]
    [Description("What the key is for, as the audit log will name it (key:NAME): a person, a dashboard, an edge gateway.")]
    public string? Name { get; init; }

    [CommandOption("--role <ROLE>")]
    [Description("viewer (reads), operator (also pushes, imports, replays, discards) or admin (also models and sources). Default viewer.")]
    public string Role { get; init; } = "viewer";

    [CommandOption("--plant <PLANT>")]
    [Description("A plant the key may read; repeat for several. Without it the key reads every plant.")]
    public string[] Plants { get; init; } = [];

    [CommandOption("--expires <DATE>")]
    [Description("The date or time after which the key is refused (UTC), such as 2027-06-30.")]
    public string? Expires { get; init; }

    public override Spectre.Console.ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            return Spectre.Console.ValidationResult.Error("--name is required: it names the key in the configuration and the audit log");
        }

        if (!Enum.TryParse<Role>(Role, ignoreCase: true, out _) || int.TryParse(Role, out _))
        {
            return Spectre.Console.ValidationResult.Error($"--role '{Role}' is not one of viewer, operator, admin");
        }

        if (Expires is not null && !DateTimeOffset.TryParse(Expires, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _))
        {
            return Spectre.Console.ValidationResult.Error($"--expires '{Expires}' is not a date such as 2027-06-30");
        }

        return Spectre.Console.ValidationResult.Success();
    }
}

/// <summary>
/// usine keys new: makes an API key. The key is printed once, for its user; the configuration keeps only its
/// SHA-256, so a leaked configuration file gives no access.
/// </summary>
internal sealed class KeysNewCommand(CliEnvironment environment) : Command<KeysNewSettings>
{
    public override int Execute(CommandContext context, KeysNewSettings settings, CancellationToken cancellationToken)
    {
        var key = ApiKeys.New();
        var role = Enum.Parse<Role>(settings.Role, ignoreCase: true).ToString().ToLowerInvariant();
        var o = environment.Out;
        o.WriteLine($"API key (shown once; give it to its user, who sends it as 'Authorization: Bearer <key>' or sets USINE_API_KEY):");
        o.WriteLine();
        o.WriteLine($"    {key}");
        o.WriteLine();
        o.WriteLine("Add these lines under auth.keys in the configuration and restart the server:");
        o.WriteLine();
        o.WriteLine($"  - name: {settings.Name}");
        o.WriteLine($"    hash: {ApiKeys.HashText(key)}");
        o.WriteLine($"    role: {role}");
        if (settings.Plants.Length > 0)
        {
            o.WriteLine($"    plants: [{string.Join(", ", settings.Plants.Distinct(StringComparer.Ordinal))}]");
        }

        if (settings.Expires is { } expires)
        {
            o.WriteLine($"    expires: {expires}");
        }

        return 0;
    }
}
