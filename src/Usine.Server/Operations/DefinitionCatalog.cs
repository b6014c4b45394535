using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Usine.Models;

namespace Usine.Server.Operations;

/// <summary>A definition the API refuses: the status to answer and the line that says why.</summary>
public sealed class DefinitionRejectedException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// Models and sources created and changed through the API. Each is validated against every other definition
/// (the configuration file and what the API added before), kept as a YAML file under
/// <c>DATA/definitions</c> so that it is there at the next start, and applied to the running platform:
/// a model version gets its columns, a source its connector. Definitions from the configuration file are
/// changed there, not here.
/// </summary>
public sealed class DefinitionCatalog(UsineOptions options, SourceKindRegistry kinds, UsineDefinitions definitions, IUsineStore store, SourceHost sources)
{
    private const string BodyName = "<body>";
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly HashSet<string> _setAside = new(StringComparer.Ordinal);

    /// <summary>Notes the files set aside at start: they are left out when a new definition is checked, until replaced or removed.</summary>
    internal void SetAsideAtStart(IEnumerable<SetAside> files) => _setAside.UnionWith(files.Select(f => f.File));

    /// <summary>The files the running platform was loaded from: the configuration and the API's definitions but those set aside.</summary>
    private IEnumerable<string> LoadedFiles() => Files(options).Where(f => !_setAside.Contains(Path.GetFullPath(f)));

    /// <summary>Where the API's definitions live.</summary>
    public static string DirectoryOf(UsineOptions options) => Path.Combine(Path.GetFullPath(options.DataDirectory), "definitions");

    /// <summary>The configuration file and every definition the API added, in a stable order.</summary>
    public static List<string> Files(UsineOptions options)
    {
        var files = new List<string> { options.ConfigPath! };
        foreach (var kind in new[] { "models", "sources" })
        {
            var dir = Path.Combine(DirectoryOf(options), kind);
            if (Directory.Exists(dir))
            {
                files.AddRange(Directory.GetFiles(dir, "*.yaml").Order(StringComparer.Ordinal));
            }
        }

        return files;
    }

    /// <summary>Loads the configuration file with the API's definitions, as the platform starts.</summary>
    public static UsineDefinitions Load(UsineOptions options, SourceKindRegistry kinds) => DefinitionLoader.LoadFiles(Files(options), kinds);

    /// <summary>
    /// The kinds of source: the connectors' registrations (each kind's settings check, run as definitions are read so
    /// that a bad setting is a definition error, and how its sources start), then those the options add.
    /// </summary>
    public static SourceKindRegistry SourceKinds(UsineOptions options, IEnumerable<SourceKindRegistration> registered) => new([.. registered, .. options.SourceKinds]);

    /// <summary>A definition the API stored that no longer loads (the model it names was taken out of the configuration, say).</summary>
    /// <param name="File">The definition's file under <c>DATA/definitions</c>.</param>
    /// <param name="SourceId">The source it defines, for a source; null for a model.</param>
    /// <param name="Reason">Why it cannot load, and how to repair it.</param>
    public sealed record SetAside(string File, string? SourceId, string Reason);

    /// <summary>
    /// Loads the definitions as the platform starts. A mistake in the configuration file stops the start, as it
    /// should; a definition the API stored that no longer loads is set aside with its reason instead, so that the
    /// platform runs without it (the source is shown failed) rather than not at all.
    /// </summary>
    public static (UsineDefinitions Definitions, IReadOnlyList<SetAside> SetAside) LoadAtStart(UsineOptions options, SourceKindRegistry kinds)
    {
        var files = Files(options);
        var setAside = new List<SetAside>();
        var managed = DirectoryOf(options) + Path.DirectorySeparatorChar;
        while (true)
        {
            try
            {
                return (DefinitionLoader.LoadFiles(files, kinds), setAside);
            }
            catch (DefinitionException ex) when (Path.GetFullPath(ex.File) is var file && file.StartsWith(managed, StringComparison.Ordinal) && files.Remove(file))
            {
                var isSource = Path.GetFileName(Path.GetDirectoryName(file)) == "sources";
                var id = isSource ? Path.GetFileNameWithoutExtension(file) : null;
                var repair = isSource
                    ? $"; define it again with PUT /api/sources/{id} or remove it with DELETE /api/sources/{id}"
                    : "; the sources of this model version cannot start until it is defined again";
                setAside.Add(new SetAside(file, id, $"its stored definition no longer loads: {ex.Message}{repair}"));
            }
            catch (DefinitionException ex) when (setAside.Count > 0)
            {
                throw new DefinitionException(ex.File, ex.Line,
                    $"{ex.Problem} (set aside because they no longer load: {string.Join("; ", setAside.Select(a => a.Reason))})");
            }
        }
    }

    /// <summary>Whether a definition read from <paramref name="origin"/> (file:line) was added through the API.</summary>
    public bool IsManaged(string? origin) => origin is not null && origin.StartsWith(DirectoryOf(options) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>Adds a model, or a new version of one, from its YAML or JSON definition.</summary>
    public async Task<DataModel> AddModelAsync(string body, string actor, CancellationToken ct)
    {
        var parsed = Parse("models", body, BodyName, () => DefinitionLoader.LoadText(Wrap("models", body), BodyName));
        var model = parsed.Models.Values.Single().Latest;
        await _lock.WaitAsync(ct);
        try
        {
            if (definitions.Models.TryGetValue(model.Name, out var versions))
            {
                if (versions.Get(model.Version) is { } same)
                {
                    throw new DefinitionRejectedException(409, $"model {model.Name} version {model.Version} exists (defined at {same.Origin}); models are versioned: send version {versions.Latest.Version + 1} to change it");
                }

                if (model.Version < versions.Latest.Version)
                {
                    throw new DefinitionRejectedException(409, $"model {model.Name} is at version {versions.Latest.Version}; a new version must be higher");
                }
            }

            var target = Path.Combine(DirectoryOf(options), "models", $"{model.Name}.v{model.Version.ToString(CultureInfo.InvariantCulture)}.yaml");
            var reloaded = await CommitFileAsync(target, "models", body, exclude: null);
            var added = reloaded.Models[model.Name];
            await store.Admin.AddModelAsync(added, ct);
            definitions.Models[model.Name] = added;
            await AuditAsync(actor, versions is null ? "model.create" : "model.version", $"model:{model.Name}@{model.Version}", ct);
            return added.Get(model.Version)!;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Creates or replaces a source from its YAML or JSON definition; true when it is new.</summary>
    public async Task<(SourceDefinition Source, bool Created)> PutSourceAsync(string id, string body, string actor, CancellationToken ct)
    {
        CheckFileName(id, "source id");
        await _lock.WaitAsync(ct);
        try
        {
            var existing = definitions.Sources.GetValueOrDefault(id);
            if (existing is not null && !IsManaged(existing.Origin))
            {
                throw new DefinitionRejectedException(409, $"source '{id}' is defined in {existing.Origin}; change it there and restart, or give this one another id");
            }

            var target = Path.Combine(DirectoryOf(options), "sources", id + ".yaml");
            var reloaded = await CommitFileAsync(target, "sources", body, exclude: target, expectSource: id);
            var source = reloaded.Sources[id];
            if (existing is not null)
            {
                await sources.StopConnectorAsync(id);
            }

            sources.ClearFailedSource(id);
            definitions.Sources[id] = source;
            sources.StartConnector(source);
            await AuditAsync(actor, existing is null ? "source.create" : "source.update", "source:" + id, ct);
            return (source, existing is null);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Removes a source the API added. Its records, dead letters and raw messages stay. Null when what was removed was a definition set aside at start.</summary>
    public async Task<SourceDefinition?> RemoveSourceAsync(string id, string actor, CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            var target = Path.Combine(DirectoryOf(options), "sources", id + ".yaml");
            if (!definitions.Sources.ContainsKey(id) && sources.FailedSources.ContainsKey(id) && File.Exists(target))
            {
                // A stored definition set aside at start: removing it is how it is repaired.
                File.Delete(target);
                _setAside.Remove(Path.GetFullPath(target));
                sources.ClearFailedSource(id);
                await sources.StopConnectorAsync(id);
                await AuditAsync(actor, "source.delete", "source:" + id, ct);
                return null;
            }

            var existing = definitions.Sources.GetValueOrDefault(id)
                ?? throw new DefinitionRejectedException(404, $"no source '{id}' (sources: {string.Join(", ", definitions.Sources.Keys.Order(StringComparer.Ordinal))})");
            if (!IsManaged(existing.Origin))
            {
                throw new DefinitionRejectedException(409, $"source '{id}' is defined in {existing.Origin}; remove it there and restart");
            }

            if (definitions.AlertRules.FirstOrDefault(r => r.Sources.Contains(id, StringComparer.Ordinal)) is { } rule)
            {
                throw new DefinitionRejectedException(409, $"alert rule '{rule.Name}' ({rule.Origin}) names source '{id}'; take it out of the rule first");
            }

            await sources.StopConnectorAsync(id);
            definitions.Sources.TryRemove(id, out _);
            sources.ClearFailedSource(id);
            File.Delete(target);
            await AuditAsync(actor, "source.delete", "source:" + id, ct);
            return existing;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Validates <paramref name="body"/> with every other definition (leaving out <paramref name="exclude"/>, the
    /// file it replaces), then writes it to <paramref name="target"/> and returns the definitions as the next
    /// start will read them.
    /// </summary>
    private async Task<UsineDefinitions> CommitFileAsync(string target, string section, string body, string? exclude, string? expectSource = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temp = target + ".new";
        await File.WriteAllTextAsync(temp, Wrap(section, body));
        try
        {
            var files = LoadedFiles().Where(f => f != exclude).Append(temp);
            var defs = Parse(section, body, temp, () => DefinitionLoader.LoadFiles(files, kinds));

            // The load above ran everything a start checks, the connector's own settings included, before the file
            // exists: a definition written here is one the next start can run.
            if (expectSource is not null && !defs.Sources.Values.Any(s => s.Id == expectSource && s.Origin?.StartsWith(temp, StringComparison.Ordinal) == true))
            {
                throw new DefinitionRejectedException(400, $"the body defines another source than '{expectSource}': its id must be the one in the address");
            }

            File.Move(temp, target, overwrite: true);
            _setAside.Remove(Path.GetFullPath(target));
        }
        finally
        {
            File.Delete(temp);
        }

        // Read again from the file's final name, so that every origin names it.
        return DefinitionLoader.LoadFiles(LoadedFiles(), kinds);
    }

    /// <summary>
    /// Loads definitions that hold the body, wrapped as one item of <paramref name="section"/> in <paramref name="file"/>,
    /// turning the loader's errors into messages about the body's own lines.
    /// </summary>
    private static UsineDefinitions Parse(string section, string body, string file, Func<UsineDefinitions> load)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            throw new DefinitionRejectedException(400, $"the body is empty: send one {section[..^1]} definition in YAML or JSON");
        }

        try
        {
            var defs = load();
            return section == "models" && defs.Models.Count == 0 ? throw new DefinitionRejectedException(400, "the body defines no model") : defs;
        }
        catch (DefinitionException ex)
        {
            // The body was wrapped under one line ("models:" or "sources:"): its line n is line n + 1 of the file.
            var message = Regex.Replace(ex.Message, Regex.Escape(file) + @":(\d+)", m =>
                "body line " + (long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) - 1).ToString(CultureInfo.InvariantCulture));
            throw new DefinitionRejectedException(400, message.Replace(file, "the body", StringComparison.Ordinal));
        }
    }

    /// <summary>The body as the one item of a list under <paramref name="section"/>; works for block YAML and for JSON.</summary>
    private static string Wrap(string section, string body)
    {
        var lines = body.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd().Split('\n');
        var text = new StringBuilder(section).Append(":\n  - ").Append(lines[0]).Append('\n');
        foreach (var line in lines.Skip(1))
        {
            text.Append("    ").Append(line).Append('\n');
        }

        return text.ToString();
    }

    private static void CheckFileName(string name, string what)
    {
        if (name.Length == 0 || name.StartsWith('.') || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains('\\', StringComparison.Ordinal))
        {
            throw new DefinitionRejectedException(400, $"{what} '{name}' must be letters, digits and _ . : - (not starting with a dot)");
        }
    }

    private async Task AuditAsync(string actor, string action, string target, CancellationToken ct) =>
        await store.Audit.AppendAsync(new AuditRecord(actor, action, target, "{}", "ok"), ct);
}
