/*
** vk_pipeline.c -- the one pipeline layout and the pipelines built on it.
**
** Every shader sees the same set 0 (vk_internal.h): storage buffers 0..3,
** the vk_args uniform at 4 with a dynamic offset, and at 5 the status word
** where a shader reports an out-of-range id; plus a 4-byte push constant
** with the index of the node being run, for that report. Pipelines are
** built on first use from the embedded SPIR-V and kept by shader name
** until the device closes; a pipeline cache lets the driver share work
** between them.
*/
#include <stdlib.h>
#include <string.h>

#include "vk_device.h"

slm_status_t vk_pipeline_layout_create(vk_device *d)
{
    char rb[16];
    VkDescriptorSetLayoutBinding b[6];
    for (uint32_t i = 0; i < 6; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = i == 4 ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC
                                     : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = 6,
        .pBindings = b,
    };
    VkResult r = d->vkCreateDescriptorSetLayout(d->dev, &lci, NULL, &d->set_layout);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkCreateDescriptorSetLayout: %s",
                        vk_result_name(r, rb));
    VkPushConstantRange push = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        .offset = 0,
        .size = sizeof(uint32_t),
    };
    VkPipelineLayoutCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &d->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &push,
    };
    r = d->vkCreatePipelineLayout(d->dev, &pci, NULL, &d->pipeline_layout);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkCreatePipelineLayout: %s", vk_result_name(r, rb));
    VkPipelineCacheCreateInfo cci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    r = d->vkCreatePipelineCache(d->dev, &cci, NULL, &d->pipeline_cache);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkCreatePipelineCache: %s", vk_result_name(r, rb));
    return SLM_OK;
}

/* Build the pipeline of shader `name`. */
static slm_status_t build(vk_device *d, const char *name, VkPipeline *out)
{
    char rb[16];
    size_t n_bytes = 0;
    const uint32_t *code = vk_shader_code(name, &n_bytes);
    if (!code)
        return vk_error(SLM_ERR_INTERNAL, "shader %s is not built into the plugin", name);
    VkShaderModuleCreateInfo mci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = n_bytes,
        .pCode = code,
    };
    VkShaderModule module;
    VkResult r = d->vkCreateShaderModule(d->dev, &mci, NULL, &module);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkCreateShaderModule(%s): %s", name,
                        vk_result_name(r, rb));
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = module,
            .pName = "main",
        },
        .layout = d->pipeline_layout,
    };
    r = d->vkCreateComputePipelines(d->dev, d->pipeline_cache, 1, &ci, NULL, out);
    d->vkDestroyShaderModule(d->dev, module, NULL);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkCreateComputePipelines(%s): %s", name,
                        vk_result_name(r, rb));
    return SLM_OK;
}

slm_status_t vk_pipeline_get(vk_device *d, const char *name, VkPipeline *out)
{
    for (uint32_t i = 0; i < d->n_pipelines; i++)
        if (strcmp(d->pipelines[i].name, name) == 0) {
            *out = d->pipelines[i].pipeline;
            return SLM_OK;
        }
    if (strlen(name) >= sizeof d->pipelines[0].name)
        return vk_error(SLM_ERR_INTERNAL, "shader name %s is too long", name);
    if (d->n_pipelines == d->cap_pipelines) {
        uint32_t cap = d->cap_pipelines ? 2 * d->cap_pipelines : 32;
        vk_pipeline_entry *p = realloc(d->pipelines, cap * sizeof *p);
        if (!p)
            return vk_error(SLM_ERR_NO_MEMORY, "pipeline %s: out of host memory", name);
        d->pipelines = p;
        d->cap_pipelines = cap;
    }
    slm_status_t st = build(d, name, out);
    if (st != SLM_OK)
        return st;
    vk_pipeline_entry *e = &d->pipelines[d->n_pipelines++];
    strcpy(e->name, name);
    e->pipeline = *out;
    return SLM_OK;
}

void vk_pipelines_destroy(vk_device *d)
{
    for (uint32_t i = 0; i < d->n_pipelines; i++)
        d->vkDestroyPipeline(d->dev, d->pipelines[i].pipeline, NULL);
    free(d->pipelines);
    d->pipelines = NULL;
    d->n_pipelines = d->cap_pipelines = 0;
    if (d->pipeline_cache)
        d->vkDestroyPipelineCache(d->dev, d->pipeline_cache, NULL);
    if (d->pipeline_layout)
        d->vkDestroyPipelineLayout(d->dev, d->pipeline_layout, NULL);
    if (d->set_layout)
        d->vkDestroyDescriptorSetLayout(d->dev, d->set_layout, NULL);
}
