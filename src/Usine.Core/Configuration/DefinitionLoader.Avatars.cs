using Usine.Models;
using YamlDotNet.RepresentationModel;

namespace Usine.Configuration;

public static partial class DefinitionLoader
{
    /// <summary>
    /// Reads <c>attributes</c> of an avatar binding: a list of fields (each gives the attribute of its name), or a
    /// mapping of attribute names to templates over fields and context levels (<c>{ colour: "{paint}" }</c>).
    /// </summary>
    private static List<AvatarAttribute> ReadAvatarAttributes(Ctx ctx, YamlNode node, string model, HashSet<string> fields)
    {
        var attributes = new List<AvatarAttribute>();
        void Add(YamlNode at, string name, Pipeline.Template value)
        {
            if (!ModelName().IsMatch(name))
            {
                throw ctx.Error(at, $"avatar attribute name '{name}' must be lower case letters, digits and '_', starting with a letter");
            }

            if (attributes.Any(a => a.Name == name))
            {
                throw ctx.Error(at, $"avatar attribute '{name}' is given twice");
            }

            foreach (var n in value.Names)
            {
                if (!fields.Contains(n) && n is not ("plant" or "shop" or "line" or "station" or "source"))
                {
                    throw ctx.Error(at, $"avatar attribute '{name}' uses '{{{n}}}', which is neither a field of model '{model}' nor plant, shop, line, station or source");
                }
            }

            attributes.Add(new AvatarAttribute(name, value));
        }

        if (node is YamlSequenceNode list)
        {
            foreach (var item in list.Children)
            {
                var field = ctx.Str(item, "an avatar attribute");
                if (!fields.Contains(field))
                {
                    throw ctx.Error(item, $"avatar attribute '{field}' is not a field of model '{model}'; write {{ NAME: \"{{field}}\" }} to name it otherwise");
                }

                Add(item, field, Pipeline.Template.Parse("{" + field + "}"));
            }
        }
        else
        {
            foreach (var (k, v) in ctx.Map(node, "avatar attributes (a list of fields, or name: template lines)").Children)
            {
                Add(k, ctx.Str(k, "an avatar attribute name"), ctx.Template(v));
            }
        }

        return attributes;
    }
}
