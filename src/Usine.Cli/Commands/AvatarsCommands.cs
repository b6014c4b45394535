namespace Usine.Cli.Commands;

internal sealed class AvatarsShowSettings : FormattedSettings
{
    [CommandArgument(0, "<ID>")]
    [Description("The avatar's id: a VIN, a serial number, a station name...")]
    public string Id { get; init; } = "";

    [CommandOption("-t|--type <TYPE>")]
    [Description("The avatar's type (vehicle, station, ...), needed when avatars of several types share the id.")]
    public string? Type { get; init; }
}

/// <summary>usine avatars show: one digital twin, where it sits in the plant, what it is linked to, its latest records.</summary>
internal sealed class AvatarsShowCommand(CliEnvironment environment) : ClientCommand<AvatarsShowSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, AvatarsShowSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetAvatarAsync(settings.Id, settings.Type, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(AvatarDetail)))
        {
            return ExitCodes.Ok;
        }

        var avatar = answer.Value;
        var path = string.Join(" › ", PlantFirst(avatar).Append(new AvatarRef(avatar.Type, avatar.Id)).Select(Name));
        Environment.PrintDetails(
        [
            ("avatar", Name(new AvatarRef(avatar.Type, avatar.Id))),
            ("key", avatar.Key?.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("plant", avatar.Plant),
            ("first seen", Output.Time(avatar.FirstSeen)),
            ("path", path),
            ("parent", avatar.Parent is { } parent ? Name(parent) : "none"),
            ("attributes", avatar.Attributes is { Count: > 0 } attributes
                ? string.Join(", ", attributes.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key}={pair.Value}"))
                : "none"),
            ("records", avatar.Records is { Count: > 0 } records
                ? string.Join(", ", records.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key} {Output.Count(pair.Value)}"))
                : "none"),
        ]);

        if (avatar.Children is { Count: > 0 } children)
        {
            var table = new TableView("child type", "child id");
            foreach (var child in children)
            {
                table.Row(child.Type, child.Id);
            }

            Environment.Print(table);
        }
        else
        {
            Environment.PrintLine("No children.");
        }

        if (avatar.Links is { Count: > 0 } links)
        {
            var table = new TableView("link", "target", "from", "until");
            foreach (var link in links)
            {
                table.Row(link.Kind, $"{link.Type} {link.Id}", Output.Time(link.From), link.Until is null ? "now" : Output.Time(link.Until));
            }

            Environment.Print(table);
        }
        else
        {
            Environment.PrintLine("No links.");
        }

        if (avatar.Recent is { Count: > 0 } recent)
        {
            var table = new TableView("model", "time", "values");
            foreach (var record in recent)
            {
                var values = record.Values is { } v ? string.Join(", ", v.Select(pair => $"{pair.Key}={Output.Scalar(pair.Value)}")) : "";
                table.Row(record.Model, Output.Time(record.Time), values);
            }

            Environment.Print(table);
        }
        else
        {
            Environment.PrintLine("No recent records.");
        }

        return ExitCodes.Ok;
    }

    private static string Name(AvatarRef avatar) => $"{avatar.Type} {avatar.Id}";

    /// <summary>
    /// The contract does not fix the order of ancestors; when the first one is the direct parent the list
    /// runs nearest first, and the path must read from the plant down.
    /// </summary>
    private static IEnumerable<AvatarRef> PlantFirst(AvatarDetail avatar)
    {
        var ancestors = avatar.Ancestors ?? [];
        return ancestors.Count > 1 && avatar.Parent is { } parent && ancestors[0] == parent ? ancestors.Reverse() : ancestors;
    }
}
